package dataset

import "errors"

// Sentinel errors; wrapped messages carry the detail.
var (
	// ErrLabels: the labels CSV is malformed (missing column, unknown label, empty).
	ErrLabels = errors.New("dataset: bad labels file")
	// ErrConfig: a Config value cannot make a dataset.
	ErrConfig = errors.New("dataset: bad config")
	// ErrVideo: a video could not be decoded into clips.
	ErrVideo = errors.New("dataset: video failed")
	// ErrSkew: a stored frame does not convert back to the decoder's own float values.
	ErrSkew = errors.New("dataset: stored frame differs from the decoder's")
	// ErrBoxes: a boxes file is unreadable or lacks a clip's key frame.
	ErrBoxes = errors.New("dataset: bad boxes file")
	// ErrFormat: a dataset directory is not one this package wrote.
	ErrFormat = errors.New("dataset: bad dataset directory")
)
