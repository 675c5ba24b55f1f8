"""fp16 conversion of an exported model: weights and activations in float16, with the
contract's float32 `clip` input and `logits` output kept at the boundary by one Cast each."""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

FP16_MAX = 65504.0


class FP16Error(RuntimeError):
    user_facing = True


def _half(t):
    a = numpy_helper.to_array(t)
    if np.abs(a).max(initial=0) > FP16_MAX:
        raise FP16Error(f"tensor {t.name!r} has values beyond float16's range")
    h = numpy_helper.from_array(a.astype(np.float16), t.name)
    return h


def to_fp16(proto, input_name, output_name):
    """Converts proto in place; returns it."""
    g = proto.graph
    for i, t in enumerate(g.initializer):
        if t.data_type == TensorProto.FLOAT:
            g.initializer[i].CopyFrom(_half(t))
    for n in g.node:
        if n.op_type == "Constant":
            for a in n.attribute:
                if a.name == "value" and a.t.data_type == TensorProto.FLOAT:
                    a.t.CopyFrom(_half(a.t))
        if n.op_type == "Cast":
            for a in n.attribute:
                if a.name == "to" and a.i == TensorProto.FLOAT:
                    a.i = TensorProto.FLOAT16
    half_in, half_out = input_name + "_fp16", output_name + "_fp16"
    producers = 0
    for n in g.node:
        for k, v in enumerate(n.input):
            if v == input_name:
                n.input[k] = half_in
        for k, v in enumerate(n.output):
            if v == output_name:
                n.output[k] = half_out
                producers += 1
    if producers != 1:
        raise FP16Error(f"{producers} nodes produce {output_name!r}, want 1")
    nodes = list(g.node)
    del g.node[:]
    g.node.extend([helper.make_node("Cast", [input_name], [half_in], to=TensorProto.FLOAT16, name="fp16_in")]
                  + nodes
                  + [helper.make_node("Cast", [half_out], [output_name], to=TensorProto.FLOAT, name="fp16_out")])
    del g.value_info[:]
    onnx.checker.check_model(proto)
    return proto

