#!/usr/bin/env python3
"""Write the person detector fixtures of infer/persondet: tiny ONNX graphs whose output
layout is exactly what the two supported exports produce.

- yolox: YOLOX's head with decode_in_inference (yolox/models/yolo_head.py decode_outputs):
  one output "output" [N, boxes, 4+1+classes], rows (cx, cy, w, h) in input pixels,
  objectness, class scores (both already sigmoid); input "images" [N,3,H,W] as
  tools/export_onnx.py names it.
- yolov8: Ultralytics Detect (ultralytics/nn/modules/head.py _inference): one output
  "output0" [N, 4+classes, boxes], (cx, cy, w, h) in input pixels then sigmoid class
  scores, no objectness; input "images".

Boxes: 84 anchors (a 64x64 input at strides 8, 16, 32), 2 classes (0 = person). Most rows
are constants (the boxes the Go test expects after threshold, argmax and NMS). Two
"probe" rows take their score from one input pixel, so the Go test sees whether the
preprocessing put the right channel, scale and letterbox padding where each project
puts them.
"""
import argparse
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SIZE = 64
ANCHORS = 8 * 8 + 4 * 4 + 2 * 2
CLASSES = 2

# (cx, cy, w, h, objectness, person score, other-class score), input pixels.
CONSTANT_ROWS = {
    0: (16, 16, 16, 16, 1.0, 0.9, 0.1),   # kept: person 0.9
    1: (17, 16, 16, 16, 1.0, 0.8, 0.1),   # suppressed by row 0 (IoU 0.88)
    2: (16, 16, 16, 16, 1.0, 0.1, 0.95),  # another class: not a person
    3: (48, 16, 8, 8, 1.0, 0.3, 0.0),     # below the threshold
    4: (48, 48, 8, 8, 1.0, 0.6, 0.7),     # its best class is not person
    5: (40, 28, 8, 8, 1.0, 0.5, 0.0),     # kept; in yolox, half over the bottom padding
}
# probe rows: (row, channel, y, x) - the person score (yolox: objectness, person = 1) is
# the input value at [channel, y, x] (yolox divides it by 255).
PROBES = {
    "yolox": [(10, 2, 10, 10), (11, 1, 40, 10)],
    "yolov8": [(10, 0, 30, 10), (11, 1, 5, 10)],
}
PROBE_BOXES = {10: (8, 24, 8, 8), 11: (56, 24, 8, 8)}  # inside the image in both letterboxes


def rows(fmt, raw):
    """The constant part as [boxes, features] (yolox feature order) plus the probe masks."""
    feats = 5 + CLASSES
    k = np.zeros((ANCHORS, feats), np.float32)
    for r, (cx, cy, w, h, obj, p, o) in CONSTANT_ROWS.items():
        k[r] = (cx, cy, w, h, obj, p, o)
    if raw:
        # What the head gives without decode_in_inference: log-space sizes, grid offsets.
        k[0, 2:4] = (-0.5, -0.5)
    masks = []
    for r, c, y, x in PROBES[fmt]:
        cx, cy, w, h = PROBE_BOXES[r]
        k[r, :4] = (cx, cy, w, h)
        m = np.zeros((ANCHORS, feats), np.float32)
        if fmt == "yolox":
            k[r, 5] = 1.0  # person class score; objectness comes from the probe
            m[r, 4] = 1.0 / 255
        else:
            m[r, 5] = 1.0  # the person class score is the probe
        masks.append((c, y, x, m))
    return k, masks


def to_layout(fmt, a):
    """yolox keeps [boxes, 4+1+C]; yolov8 drops objectness and transposes to [4+C, boxes]."""
    if fmt == "yolox":
        return a
    return np.concatenate([a[:, :4], a[:, 5:]], axis=1).T.copy()


def model(fmt, batch="N", raw=False, in_dims=None, out_rank=3, inputs=1):
    k, masks = rows(fmt, raw)
    k = to_layout(fmt, k)[None]
    dims = in_dims or [3, SIZE, SIZE]
    nodes, inits = [], [numpy_helper.from_array(k, "constant_rows")]
    acc = "constant_rows"
    for i, (c, y, x, m) in enumerate(masks):
        starts = numpy_helper.from_array(np.array([min(c, dims[0] - 1), y, x], np.int64), f"p{i}_starts")
        ends = numpy_helper.from_array(np.array([min(c, dims[0] - 1) + 1, y + 1, x + 1], np.int64), f"p{i}_ends")
        axes = numpy_helper.from_array(np.array([1, 2, 3], np.int64), f"p{i}_axes")
        shape = numpy_helper.from_array(np.array([-1, 1, 1], np.int64), f"p{i}_shape")
        mask = numpy_helper.from_array(to_layout(fmt, m)[None], f"p{i}_mask")
        inits += [starts, ends, axes, shape, mask]
        nodes += [
            helper.make_node("Slice", ["images", f"p{i}_starts", f"p{i}_ends", f"p{i}_axes"], [f"p{i}_px"]),
            helper.make_node("Reshape", [f"p{i}_px", f"p{i}_shape"], [f"p{i}_v"]),
            helper.make_node("Mul", [f"p{i}_v", f"p{i}_mask"], [f"p{i}_term"]),
            helper.make_node("Add", [acc, f"p{i}_term"], [f"acc{i}"]),
        ]
        acc = f"acc{i}"
    out_name = "output" if fmt == "yolox" else "output0"
    out_shape = [batch] + list(k.shape[1:])
    if out_rank == 2:
        shape = numpy_helper.from_array(np.array([-1, k.shape[2]], np.int64), "flat_shape")
        inits.append(shape)
        nodes.append(helper.make_node("Reshape", [acc, "flat_shape"], [out_name]))
        out_shape = ["M", k.shape[2]]
    else:
        nodes.append(helper.make_node("Identity", [acc], [out_name]))
    graph_inputs = [helper.make_tensor_value_info("images", TensorProto.FLOAT, [batch] + dims)]
    if inputs == 2:
        graph_inputs.append(helper.make_tensor_value_info("extra", TensorProto.FLOAT, [1]))
    graph = helper.make_graph(
        nodes, "persondet-fixture", graph_inputs,
        [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, out_shape)], inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="make_detectors.py")
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


FIXTURES = {
    "yolox.onnx": lambda: model("yolox"),
    "yolov8-batch1.onnx": lambda: model("yolov8", batch=1),
    "yolox-raw.onnx": lambda: model("yolox", raw=True),
    "yolox-rank2.onnx": lambda: model("yolox", out_rank=2),
    "yolox-dynamic-size.onnx": lambda: model("yolox", in_dims=[3, "H", "W"]),
    "yolox-gray.onnx": lambda: model("yolox", in_dims=[1, SIZE, SIZE]),
    "yolox-two-inputs.onnx": lambda: model("yolox", inputs=2),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True, help="directory to write the fixtures into")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    for name, make in FIXTURES.items():
        with open(os.path.join(a.out, name), "wb") as f:
            f.write(make().SerializeToString())


if __name__ == "__main__":
    main()
