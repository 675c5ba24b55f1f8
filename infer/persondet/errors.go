package persondet

import "errors"

// Sentinel errors. Callers test with errors.Is; the wrapped message names the file and the fault.
var (
	// ErrBadConfig: the person detector settings are unusable (no path, unknown format, ...).
	ErrBadConfig = errors.New("bad person detector config")
	// ErrBadModel: the file is not an ONNX model, or its input or output is not a detector's
	// (input [N,3,H,W] float32 with a fixed H and W; output rank 3 float32).
	ErrBadModel = errors.New("not a usable person detector model")
	// ErrFormatMismatch: the output's layout is the other format's (a YOLOv8 export
	// configured as yolox, or the reverse).
	ErrFormatMismatch = errors.New("person detector format mismatch")
	// ErrNotDecoded: a YOLOX output holds raw head values (negative sizes), i.e. it was
	// exported without --decode_in_inference.
	ErrNotDecoded = errors.New("person detector output is not decoded")
	// ErrBadImage: an image's size and pixel count disagree.
	ErrBadImage = errors.New("bad image")
	// ErrClosed: the Detector is closed.
	ErrClosed = errors.New("persondet: closed")
)
