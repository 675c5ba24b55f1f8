package fit

import "errors"

// Sentinel errors; wrapped messages carry the detail.
var (
	// ErrOptions: an option cannot make a training run.
	ErrOptions = errors.New("fit: bad options")
	// ErrData: the dataset does not fit the architecture (labels, frames, crop).
	ErrData = errors.New("fit: dataset does not match the architecture")
)
