package dwconv

import "errors"

// Sentinel errors; messages wrap them with the detail.
var (
	// ErrBadGeometry: shapes, strides, pads or buffer sizes that do not make a convolution.
	ErrBadGeometry = errors.New("dwconv: bad geometry")
	// ErrUnknownPath: a kernel path name that is none of Paths.
	ErrUnknownPath = errors.New("dwconv: unknown kernel path")
	// ErrUnsupported: the kernel path needs instructions this CPU lacks.
	ErrUnsupported = errors.New("dwconv: kernel path not supported on this CPU")
	// ErrNoMemory: scratch memory could not be allocated.
	ErrNoMemory = errors.New("dwconv: out of memory")
	// ErrRegister: the custom operator could not be added to the session options.
	ErrRegister = errors.New("dwconv: register custom operator")
)

// ErrDNNL: oneDNN (the comparison, build tag dnnl) is absent or failed.
var ErrDNNL = errors.New("dwconv: onednn")
