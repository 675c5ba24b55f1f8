#!/usr/bin/env python3
"""Write the small detection models of docs/MODEL_CONTRACT.md ("Detection models") that tests serve.

No training: a fixed graph that finds a red actor ("wave") and a blue actor ("walk") on the clip's
key frame (sample T/2), so its outputs follow the contract and depend on the input:

  mask_c  = sigmoid(k * (colour excess over the other two channels - 0.3)) per pixel
  centre  = the mask's centroid; size = sqrt(12 * variance) per axis (the side of a solid square)
  heatmap = max over colours of present_c * exp(-|cell centre - centre_c|^2 / (2 sigma^2))
  size, offset, actions at each cell from the colour whose heat is larger there.

--mode roi writes the RoI twin: inputs clip and rois [K,5] (batch index, x1, y1, x2, y2 as fractions
of S), output actions [K,2] = RoiAlign over the two masks, max-pooled.
"""
import argparse
import json

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

LABELS = ["wave", "walk"]
MEAN = [0.45, 0.45, 0.45]
STD = [0.225, 0.225, 0.225]


def const(name, value, dtype=np.float32):
    return numpy_helper.from_array(np.asarray(value, dtype=dtype), name)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--mode", default="single_stage", choices=["single_stage", "roi"])
    ap.add_argument("--frames", type=int, default=4)
    ap.add_argument("--crop", type=int, default=64)
    ap.add_argument("--stride", type=int, default=8)
    ap.add_argument("--omit", action="append", default=[], help="metadata key to leave out")
    ap.add_argument("--set", action="append", default=[], help="KEY=VALUE metadata override")
    a = ap.parse_args()
    t, s, stride = a.frames, a.crop, a.stride
    g = s // stride

    inits = [
        const("key_index", t // 2, np.int64),
        const("std", np.array(STD).reshape(1, 3, 1, 1)),
        const("mean", np.array(MEAN).reshape(1, 3, 1, 1)),
        const("half", 0.5), const("thr", 0.3), const("k", 60.0), const("eps", 1e-3),
        const("twelve", 12.0), const("min_area", 12.0), const("k_area", 1.0),
        const("one", 1.0),
    ]
    n = []

    def node(op, ins, outs, **kw):
        n.append(helper.make_node(op, ins, outs, **kw))
        return outs[0]

    # Key frame, back to [0,1] RGB.
    node("Gather", ["clip", "key_index"], ["key"], axis=2)  # [N,3,S,S]
    node("Mul", ["key", "std"], ["key_s"])
    node("Add", ["key_s", "mean"], ["rgb"])

    node("Split", ["rgb"], ["ch_r", "ch_g", "ch_b"], axis=1)

    def mask(name, c, o1, o2):
        node("Add", [o1, o2], [name + "_oo"])
        node("Mul", [name + "_oo", "half"], [name + "_om"])
        node("Sub", [c, name + "_om"], [name + "_ex"])
        node("Sub", [name + "_ex", "thr"], [name + "_exm"])
        node("Mul", [name + "_exm", "k"], [name + "_z"])
        return node("Sigmoid", [name + "_z"], [name + "_mask"])  # [N,1,S,S]

    masks = {"red": mask("red", "ch_r", "ch_g", "ch_b"), "blue": mask("blue", "ch_b", "ch_r", "ch_g")}

    if a.mode == "roi":
        inits += [const("s_scale", float(s)), const("i0", [0], np.int64), const("i1", [1], np.int64),
                  const("i5", [5], np.int64), const("ax1", [1], np.int64)]
        node("Concat", [masks["red"], masks["blue"]], ["feat"], axis=1)  # [N,2,S,S]
        node("Slice", ["rois", "i0", "i1", "ax1"], ["roi_b"])
        node("Flatten", ["roi_b"], ["roi_bf"], axis=0)
        node("Squeeze", ["roi_bf", "i0"], ["roi_bs"])
        node("Cast", ["roi_bs"], ["roi_idx"], to=TensorProto.INT64)
        node("Slice", ["rois", "i1", "i5", "ax1"], ["roi_xy"])
        node("Mul", ["roi_xy", "s_scale"], ["roi_px"])
        node("RoiAlign", ["feat", "roi_px", "roi_idx"], ["pooled"], output_height=4, output_width=4,
             sampling_ratio=2, spatial_scale=1.0, mode="avg", coordinate_transformation_mode="half_pixel")
        node("ReduceMax", ["pooled"], ["actions"], axes=[2, 3], keepdims=0)
        inputs = [helper.make_tensor_value_info("clip", TensorProto.FLOAT, ["N", 3, t, s, s]),
                  helper.make_tensor_value_info("rois", TensorProto.FLOAT, ["K", 5])]
        outputs = [helper.make_tensor_value_info("actions", TensorProto.FLOAT, ["K", len(LABELS)])]
    else:
        xs = ((np.arange(s) + 0.5) / s).astype(np.float32)
        gc = ((np.arange(g) + 0.5) / g).astype(np.float32)
        gi = np.arange(g).astype(np.float32)
        sigma = 0.7 / g
        inits += [const("X", xs.reshape(1, 1, 1, s)), const("Y", xs.reshape(1, 1, s, 1)),
                  const("GX", gc.reshape(1, 1, 1, g)), const("GY", gc.reshape(1, 1, g, 1)),
                  const("GXi", gi.reshape(1, 1, 1, g)), const("GYi", gi.reshape(1, 1, g, 1)),
                  const("G", float(g)), const("inv2s2", -1.0 / (2 * sigma * sigma))]
        per = {}
        for name, m in masks.items():
            mass = name + "_mass"
            n.append(helper.make_node("ReduceSum", [m, "axes23"], [mass], keepdims=1))
            node("Add", [mass, "eps"], [name + "_safe"])
            stats = {}
            for ax in ("X", "Y"):
                node("Mul", [m, ax], [name + "_m" + ax])
                n.append(helper.make_node("ReduceSum", [name + "_m" + ax, "axes23"], [name + "_s" + ax], keepdims=1))
                c = node("Div", [name + "_s" + ax, name + "_safe"], [name + "_c" + ax])
                node("Mul", [name + "_m" + ax, ax], [name + "_m" + ax + "2"])
                n.append(helper.make_node("ReduceSum", [name + "_m" + ax + "2", "axes23"], [name + "_s" + ax + "2"], keepdims=1))
                node("Div", [name + "_s" + ax + "2", name + "_safe"], [name + "_e" + ax + "2"])
                node("Mul", [c, c], [name + "_c" + ax + "sq"])
                node("Sub", [name + "_e" + ax + "2", name + "_c" + ax + "sq"], [name + "_v" + ax])
                node("Mul", [name + "_v" + ax, "twelve"], [name + "_v12" + ax])
                node("Relu", [name + "_v12" + ax], [name + "_vr" + ax])
                size = node("Sqrt", [name + "_vr" + ax], [name + "_w" + ax])
                # Distance term and offset on the grid.
                node("Sub", ["G" + ax, c], [name + "_d" + ax])
                node("Mul", [name + "_d" + ax, name + "_d" + ax], [name + "_d2" + ax])
                node("Mul", [c, "G"], [name + "_cg" + ax])
                off = node("Sub", [name + "_cg" + ax, "G" + ax + "i"], [name + "_o" + ax])
                stats[ax] = (size, off)
            node("Add", [name + "_d2X", name + "_d2Y"], [name + "_d2"])  # [N,1,G,G]
            node("Mul", [name + "_d2", "inv2s2"], [name + "_ez"])
            node("Exp", [name + "_ez"], [name + "_gauss"])
            node("Sub", [mass, "min_area"], [name + "_pz"])
            node("Mul", [name + "_pz", "k_area"], [name + "_pz2"])
            present = node("Sigmoid", [name + "_pz2"], [name + "_present"])
            heat = node("Mul", [name + "_gauss", present], [name + "_heat"])
            per[name] = (heat, present, stats)
        inits.append(const("axes23", [2, 3], np.int64))
        hr, pr, sr = per["red"]
        hb, pb, sb = per["blue"]
        node("Max", [hr, hb], ["heatmap"])
        node("GreaterOrEqual", [hr, hb], ["red_wins"])
        node("Cast", ["red_wins"], ["sel"], to=TensorProto.FLOAT)
        node("Sub", ["one", "sel"], ["nsel"])

        def pick(rv, bv, out):
            node("Mul", [rv, "sel"], [out + "_r"])
            node("Mul", [bv, "nsel"], [out + "_b"])
            return node("Add", [out + "_r", out + "_b"], [out])

        w = pick(sr["X"][0], sb["X"][0], "w")
        h = pick(sr["Y"][0], sb["Y"][0], "h")
        ox = pick(sr["X"][1], sb["X"][1], "ox")
        oy = pick(sr["Y"][1], sb["Y"][1], "oy")
        node("Concat", [w, h], ["size"], axis=1)
        node("Concat", [ox, oy], ["offset"], axis=1)
        node("Mul", ["sel", pr], ["act_wave"])
        node("Mul", ["nsel", pb], ["act_walk"])
        node("Concat", ["act_wave", "act_walk"], ["actions"], axis=1)
        inputs = [helper.make_tensor_value_info("clip", TensorProto.FLOAT, ["N", 3, t, s, s])]
        outputs = [
            helper.make_tensor_value_info("heatmap", TensorProto.FLOAT, ["N", 1, g, g]),
            helper.make_tensor_value_info("size", TensorProto.FLOAT, ["N", 2, g, g]),
            helper.make_tensor_value_info("offset", TensorProto.FLOAT, ["N", 2, g, g]),
            helper.make_tensor_value_info("actions", TensorProto.FLOAT, ["N", len(LABELS), g, g]),
        ]

    graph = helper.make_graph(n, "actionstream-detect-test", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="make_detect.py")
    model.ir_version = 8
    meta = {
        "actionstream.schema_version": "1",
        "actionstream.name": "test-colour-detector" + ("-roi" if a.mode == "roi" else ""),
        "actionstream.task": "detection",
        "actionstream.detection.mode": a.mode,
        "actionstream.labels": json.dumps(LABELS),
        "actionstream.frames": str(t),
        "actionstream.sampling_rate": "6",
        "actionstream.crop_size": str(s),
        "actionstream.resize_short_side": str(s),
        "actionstream.mean": json.dumps(MEAN),
        "actionstream.std": json.dumps(STD),
        "actionstream.score": "sigmoid",
        "actionstream.trained_on": "none: a fixed colour detector for tests",
    }
    if a.mode == "single_stage":
        meta["actionstream.detection.stride"] = str(stride)
    for kv in a.set:
        k, val = kv.split("=", 1)
        meta[k] = val
    for k in a.omit:
        meta.pop(k, None)
    helper.set_model_props(model, meta)
    onnx.checker.check_model(model)
    onnx.save(model, a.out)


if __name__ == "__main__":
    main()
