#!/usr/bin/env python3
"""Write a small ONNX model that follows (or deliberately breaks) docs/MODEL_CONTRACT.md.

Graph: clip [N,3,T,S,S] -> logits = Flatten(clip) @ W + ReduceMean(clip, axes 2,3,4) @ V + b.
Every input value reaches the output, so a mis-laid-out batch shows in the logits.
With --expect N it also writes PATH.input.f32 (N random clips) and PATH.expected.f32
(numpy logits), both raw little-endian float32, for the Go test to compare against ORT.
"""
import argparse
import json

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--frames", type=int, default=4)
    ap.add_argument("--crop", type=int, default=8)
    ap.add_argument("--classes", type=int, default=5)
    ap.add_argument("--score", default="softmax")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--batch", default="N", help="N (dynamic) or a fixed batch size")
    ap.add_argument("--dims", default="", help="override input dims after N, e.g. 3,8,8,8 or 3,8,8 (rank 4)")
    ap.add_argument("--omit", action="append", default=[], help="metadata key to leave out")
    ap.add_argument("--set", action="append", default=[], help="KEY=VALUE metadata override")
    ap.add_argument("--expect", type=int, default=0, help="write N input clips and expected logits")
    a = ap.parse_args()

    rng = np.random.default_rng(a.seed)
    t, s, c = a.frames, a.crop, a.classes
    dims = [3, t, s, s] if not a.dims else [int(x) for x in a.dims.split(",")]
    feat = int(np.prod(dims))
    batch = a.batch if a.batch == "N" else int(a.batch)
    w = rng.normal(0, 1 / np.sqrt(feat), size=(feat, c)).astype(np.float32)
    v = rng.normal(0, 1, size=(dims[0], c)).astype(np.float32)
    b = rng.normal(0, 0.1, size=(c,)).astype(np.float32)
    axes = list(range(2, len(dims) + 1))

    nodes = [
        helper.make_node("Flatten", ["clip"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "W"], ["a"]),
        helper.make_node("ReduceMean", ["clip"], ["mean"], axes=axes, keepdims=0),
        helper.make_node("MatMul", ["mean", "V"], ["m"]),
        helper.make_node("Add", ["a", "m"], ["am"]),
        helper.make_node("Add", ["am", "b"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "actionstream-test",
        [helper.make_tensor_value_info("clip", TensorProto.FLOAT, [batch] + dims)],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, c])],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(v, "V"), numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="make_model.py")
    model.ir_version = 8

    labels = ["class%d" % i for i in range(c)]
    meta = {
        "actionstream.schema_version": "1",
        "actionstream.name": "test-linear",
        "actionstream.task": "classification",
        "actionstream.labels": json.dumps(labels),
        "actionstream.frames": str(t),
        "actionstream.sampling_rate": "6",
        "actionstream.crop_size": str(s),
        "actionstream.resize_short_side": str(s + s // 8),
        "actionstream.mean": "[0.45,0.45,0.45]",
        "actionstream.std": "[0.225,0.225,0.225]",
        "actionstream.score": a.score,
        "actionstream.architecture": json.dumps({"name": "linear-test", "frames": t, "crop_size": s}),
        "actionstream.macs": str(feat * c + dims[0] * c),
        "actionstream.params": str(w.size + v.size + b.size),
        "actionstream.trained_on": "random-init",
    }
    for kv in a.set:
        k, val = kv.split("=", 1)
        meta[k] = val
    for k in a.omit:
        meta.pop(k, None)
    helper.set_model_props(model, meta)
    onnx.checker.check_model(model)
    onnx.save(model, a.out)

    if a.expect:
        x = rng.normal(0, 1, size=[a.expect] + dims).astype(np.float32)
        x64 = x.astype(np.float64)
        logits = x64.reshape(a.expect, -1) @ w + x64.mean(axis=tuple(axes)) @ v + b
        x.astype("<f4").tofile(a.out + ".input.f32")
        logits.astype("<f4").tofile(a.out + ".expected.f32")


if __name__ == "__main__":
    main()
