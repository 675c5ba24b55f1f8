"""ONNX export under docs/MODEL_CONTRACT.md: input `clip` [N,3,T,S,S], output `logits`
[N,C], dynamic N, BatchNorm folded into the convs, Swish as Sigmoid+Mul, eval mode,
metadata_props as given by the Go side (which owns the contract's keys)."""
import copy
import json
import os

import onnx
import torch

INPUT_NAME = "clip"
OUTPUT_NAME = "logits"
ROIS_NAME = "rois"
SINGLE_STAGE_OUTPUTS = ["heatmap", "size", "offset", "actions"]
ROI_OUTPUTS = ["actions"]


class SingleStageExport(torch.nn.Module):
    """The contract's single-stage outputs: every head through its sigmoid."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, clip):
        return tuple(torch.sigmoid(t) for t in self.m(clip))


class RoIExport(torch.nn.Module):
    """The contract's RoI model: inputs clip and rois [K,5], output actions [K,C] (sigmoid)."""

    def __init__(self, m):
        super().__init__()
        self.m = m
        m.det_head.export_op = True  # one ONNX RoiAlign node

    def forward(self, clip, rois):
        return torch.sigmoid(self.m(clip, rois))


def graph_io(m):
    """(module, dummy inputs, input names, output names, dynamic axes) for m's task."""
    dummy = torch.zeros(m.input_shape(1))
    if m.mode is None:
        return m, (dummy,), [INPUT_NAME], [OUTPUT_NAME], {INPUT_NAME: {0: "N"}, OUTPUT_NAME: {0: "N"}}
    if m.mode == "single_stage":
        axes = {k: {0: "N"} for k in [INPUT_NAME] + SINGLE_STAGE_OUTPUTS}
        return SingleStageExport(m), (dummy,), [INPUT_NAME], SINGLE_STAGE_OUTPUTS, axes
    rois = torch.tensor([[0.0, 0.1, 0.1, 0.5, 0.6], [0.0, 0.4, 0.3, 0.9, 0.9]])
    axes = {INPUT_NAME: {0: "N"}, ROIS_NAME: {0: "K"}, "actions": {0: "K"}}
    return RoIExport(m), (dummy, rois), [INPUT_NAME, ROIS_NAME], ROI_OUTPUTS, axes
DEFAULT_OPSET = 17
MIN_OPSET = 13


class ExportError(RuntimeError):
    pass


def inference_copy(model):
    """An eval-mode copy of model with every BN folded; the original is untouched."""
    m = copy.deepcopy(model).cpu().float().eval()
    m.fold_bn()
    for p in m.parameters():
        p.requires_grad_(False)
    return m


def export(model, out_path, metadata, opset=DEFAULT_OPSET, fp16=False):
    if opset < MIN_OPSET:
        raise ExportError(f"opset {opset} < {MIN_OPSET}")
    labels = metadata.get("actionstream.labels")
    if labels is not None:
        n = len(json.loads(labels))
        if n != model.num_classes:
            raise ExportError(f"{n} labels for a {model.num_classes}-class network")
    m = inference_copy(model)
    if m.mode is not None and fp16:
        raise ExportError("fp16 export is for classification models")
    if m.mode == "roi" and opset < 16:
        raise ExportError(f"opset {opset}: RoiAlign with half-pixel coordinates needs opset 16")
    module, dummy, inputs, outputs, axes = graph_io(m)
    tmp = out_path + ".tmp"
    torch.onnx.export(
        module, dummy, tmp,
        input_names=inputs, output_names=outputs, dynamic_axes=axes,
        opset_version=opset, do_constant_folding=True,
        training=torch.onnx.TrainingMode.EVAL)
    proto = onnx.load(tmp)
    bad = sorted({n.op_type for n in proto.graph.node
                  if n.op_type in ("BatchNormalization", "Dropout")})
    if bad:
        os.remove(tmp)
        raise ExportError(f"exported graph still has {bad} nodes")
    del proto.metadata_props[:]
    for k in sorted(metadata):
        v = metadata[k]
        if not isinstance(v, str):
            raise ExportError(f"metadata {k!r}: value must be a string")
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    proto.producer_name = "actionstream"
    if fp16:
        # After the fp32 export and BN folding, so the folded weights are rounded once.
        from .fp16 import to_fp16
        to_fp16(proto, INPUT_NAME, OUTPUT_NAME)
    onnx.checker.check_model(proto)
    onnx.save(proto, tmp)
    os.replace(tmp, out_path)
    return {
        "path": out_path,
        "opset": opset,
        "nodes": len(proto.graph.node),
        "ops": sorted({n.op_type for n in proto.graph.node}),
        "bytes": os.path.getsize(out_path),
        "fp16": fp16,
    }
