package importer

import "errors"

// Sentinel errors; wrapped messages carry the detail.
var (
	// ErrOptions: an option cannot make an import.
	ErrOptions = errors.New("import: bad options")
	// ErrCheckpoint: the file cannot be read as a checkpoint of a known scheme (not a
	// torch file, refused by the weights-only unpickler, unknown key layout).
	ErrCheckpoint = errors.New("import: cannot read the checkpoint")
	// ErrMismatch: the checkpoint's network is not the chosen architecture (depths,
	// classes, tensor shapes); the message says what differs.
	ErrMismatch = errors.New("import: checkpoint does not match the architecture")
)
