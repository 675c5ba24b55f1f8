package persondet

import (
	"fmt"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/actionstream/actionstream/infer"
)

// layout is what Open learnt from the model's input and output.
type layout struct {
	format        string
	input, output string
	width, height int
	batch         int // fixed batch size, 0 = dynamic
	classes       int // 0 = not known until the first run
}

// checkLayout checks the model's one input [N,3,H,W] (float32, H and W fixed) and its
// first output against format, and that class is one of its classes.
func checkLayout(format string, class int, ins, outs []ort.InputOutputInfo) (layout, error) {
	lay := layout{format: format}
	if len(ins) != 1 {
		return lay, fmt.Errorf("%w: %d inputs, want one image input [N,3,H,W]", ErrBadModel, len(ins))
	}
	in := ins[0]
	d := in.Dimensions
	switch {
	case in.OrtValueType != ort.ONNXTypeTensor || in.DataType != ort.TensorElementDataTypeFloat:
		return lay, fmt.Errorf("%w: input %q is %s, want a float32 tensor [N,3,H,W]", ErrBadModel, in.Name, in.String())
	case len(d) != 4 || d[1] != 3:
		return lay, fmt.Errorf("%w: input %q has shape %v, want [N,3,H,W]", ErrBadModel, in.Name, []int64(d))
	case d[2] <= 0 || d[3] <= 0:
		return lay, fmt.Errorf("%w: input %q has shape %v: the height and width must be fixed (export with a fixed image size)", ErrBadModel, in.Name, []int64(d))
	}
	lay.input, lay.height, lay.width = in.Name, int(d[2]), int(d[3])
	if d[0] > 0 {
		lay.batch = int(d[0])
	}
	if len(outs) == 0 {
		return lay, fmt.Errorf("%w: no output", ErrBadModel)
	}
	out := outs[0]
	o := out.Dimensions
	if out.OrtValueType != ort.ONNXTypeTensor || out.DataType != ort.TensorElementDataTypeFloat {
		return lay, fmt.Errorf("%w: output %q is %s, want a float32 tensor", ErrBadModel, out.Name, out.String())
	}
	lay.output = out.Name
	if len(o) != 3 {
		return lay, fmt.Errorf("%w: output %q has shape %v, want rank 3: %s", ErrBadModel, out.Name, []int64(o), want(format))
	}
	if err := lay.checkFeatures(o[1], o[2], out.Name, []int64(o)); err != nil {
		return lay, err
	}
	if lay.classes > 0 && class >= lay.classes {
		return lay, fmt.Errorf("%w: class %d, but output %q has %d classes", ErrBadModel, class, out.Name, lay.classes)
	}
	return lay, nil
}

func want(format string) string {
	if format == infer.PersonFormatYOLOX {
		return "yolox is [N, boxes, 4+1+classes]"
	}
	return "yolov8 is [N, 4+classes, boxes]"
}

// checkFeatures checks the output's two last axes (dims1, dims2; <= 0 = dynamic) and sets
// classes when known. The boxes axis is the long one (thousands of anchors against a few
// features): finding it on the other axis means the other format.
func (lay *layout) checkFeatures(dims1, dims2 int64, name string, shape []int64) error {
	boxes, feats, head := dims1, dims2, int64(headLen(lay.format))
	other, otherShape := infer.PersonFormatYOLOv8, "[N, 4+classes, boxes]"
	if lay.format != infer.PersonFormatYOLOX {
		boxes, feats = dims2, dims1
		other, otherShape = infer.PersonFormatYOLOX, "[N, boxes, 4+1+classes]"
	}
	if boxes > 0 && feats > 0 && boxes < feats {
		return fmt.Errorf("%w: output %q has shape %v: that is %s's layout %s, not %s (set format: %s)",
			ErrFormatMismatch, name, shape, other, otherShape, want(lay.format), other)
	}
	if feats > 0 && feats <= head {
		return fmt.Errorf("%w: output %q has shape %v: %s, so the feature axis needs more than %d values", ErrBadModel, name, shape, want(lay.format), head)
	}
	if feats > 0 {
		lay.classes = int(feats - head)
	}
	return nil
}

// outputDims checks a run's output shape for n images and returns its boxes and features.
func (lay layout) outputDims(s ort.Shape, n int) (boxes, feats int, err error) {
	if len(s) != 3 || s[0] != int64(n) {
		return 0, 0, fmt.Errorf("%w: output shape %v for %d images: %s", ErrBadModel, []int64(s), n, want(lay.format))
	}
	check := layout{format: lay.format}
	if err := check.checkFeatures(s[1], s[2], lay.output, []int64(s)); err != nil {
		return 0, 0, err
	}
	if lay.classes > 0 && check.classes != lay.classes {
		return 0, 0, fmt.Errorf("%w: output shape %v has %d classes, the model declared %d", ErrBadModel, []int64(s), check.classes, lay.classes)
	}
	if lay.format == infer.PersonFormatYOLOX {
		return int(s[1]), int(s[2]), nil
	}
	return int(s[2]), int(s[1]), nil
}

// headLen is the number of features before the class scores: box and objectness (YOLOX)
// or box only (YOLOv8).
func headLen(format string) int {
	if format == infer.PersonFormatYOLOX {
		return 5
	}
	return 4
}
