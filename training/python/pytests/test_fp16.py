"""Unit tests of the fp16 conversion: boundary casts, float16 weights and constants, and the
errors a model it cannot convert gets."""
import unittest

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from actionstream_trainer import fp16


def _model(weight, producers=1):
    w = numpy_helper.from_array(np.asarray(weight, dtype=np.float32), "w")
    nodes = [helper.make_node("MatMul", ["clip", "w"], ["logits"])]
    if producers == 2:
        nodes.append(helper.make_node("Identity", ["clip"], ["logits"]))
    g = helper.make_graph(nodes, "g",
                          [helper.make_tensor_value_info("clip", TensorProto.FLOAT, [1, 2])],
                          [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 2])],
                          initializer=[w])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


class FP16Test(unittest.TestCase):
    def test_boundary_stays_float32(self):
        m = fp16.to_fp16(_model([[1.0, 2.0], [3.0, 4.0]]), "clip", "logits")
        self.assertEqual(m.graph.input[0].type.tensor_type.elem_type, TensorProto.FLOAT)
        self.assertEqual(m.graph.output[0].type.tensor_type.elem_type, TensorProto.FLOAT)
        self.assertEqual(m.graph.initializer[0].data_type, TensorProto.FLOAT16)
        ops = [n.op_type for n in m.graph.node]
        self.assertEqual(ops, ["Cast", "MatMul", "Cast"])
        self.assertEqual(m.graph.node[1].input[0], "clip_fp16")
        self.assertEqual(m.graph.node[2].output[0], "logits")
        onnx.checker.check_model(m)

    def test_out_of_range_weight_is_refused(self):
        with self.assertRaises(fp16.FP16Error) as e:
            fp16.to_fp16(_model([[1e6, 0.0], [0.0, 1.0]]), "clip", "logits")
        self.assertIn("beyond float16's range", str(e.exception))

    def test_one_producer_of_the_output(self):
        with self.assertRaises(fp16.FP16Error) as e:
            fp16.to_fp16(_model([[1.0, 0.0], [0.0, 1.0]], producers=2), "clip", "logits")
        self.assertIn("2 nodes produce 'logits'", str(e.exception))


if __name__ == "__main__":
    unittest.main()
