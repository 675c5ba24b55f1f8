package person

import "errors"

// Sentinel errors.
var (
	// ErrBadData: the dataset directory lacks labels.csv or boxes.jsonl, or they disagree
	// with the videos.
	ErrBadData = errors.New("person: bad dataset")
	// ErrBadOptions: an option is out of range.
	ErrBadOptions = errors.New("person: bad options")
)
