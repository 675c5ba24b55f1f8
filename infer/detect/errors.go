package detect

import "errors"

// Sentinel errors. Callers test with errors.Is; the wrapped message names the fault.
var (
	// ErrBadHeads: the single-stage outputs do not have the shapes the contract fixes
	// (heatmap [G*G], size and offset [2*G*G], actions [C*G*G], S = G*stride).
	ErrBadHeads = errors.New("bad detection outputs")
	// ErrBadGeometry: a crop geometry with a non-positive size or a crop larger than the
	// resized frame.
	ErrBadGeometry = errors.New("bad crop geometry")
)
