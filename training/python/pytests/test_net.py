"""Unit tests of the PyTorch side, run by the Go test TestPythonUnitTests with the
extracted package on PYTHONPATH and the architecture specs it writes (from
training/x3d) in $ACTIONSTREAM_TEST_SPECS."""
import io
import json
import math
import os
import unittest

import onnx
import torch

from actionstream_trainer import export, net


def specs():
    with open(os.environ["ACTIONSTREAM_TEST_SPECS"], encoding="utf-8") as f:
        return json.load(f)


class InitTest(unittest.TestCase):
    def setUp(self):
        torch.manual_seed(0)
        self.model = net.build(specs()["x3d-xs"])

    def test_conv_msra_fan_out(self):
        w = self.model.stages[2].blocks[1].a.conv.weight  # 1x1x1, many weights
        fan_out = w.shape[0] * w[0, 0].numel()
        self.assertAlmostEqual(w.std().item(), math.sqrt(2.0 / fan_out), delta=0.05 * math.sqrt(2.0 / fan_out))
        self.assertAlmostEqual(w.mean().item(), 0.0, delta=0.01)

    def test_bn_gamma_beta(self):
        for name, m in self.model.named_modules():
            if isinstance(m, torch.nn.BatchNorm3d):
                want = 0.0 if name.endswith(".c.bn") else 1.0
                self.assertTrue(torch.all(m.weight == want), name)
                self.assertTrue(torch.all(m.bias == 0), name)
        # Every block's branch starts at zero: gamma 0 on its last BN.
        blocks = [m for m in self.model.modules() if isinstance(m, net.Block)]
        self.assertEqual(len(blocks), 3 + 5 + 11 + 7)

    def test_linear_and_biases(self):
        proj = self.model.head.proj
        self.assertAlmostEqual(proj.weight.std().item(), 0.01, delta=0.001)
        self.assertTrue(torch.all(proj.bias == 0))
        for name, m in self.model.named_modules():
            if isinstance(m, torch.nn.Conv3d) and m.bias is not None:
                self.assertTrue(torch.all(m.bias == 0), name)

    def test_seed_reproducible(self):
        torch.manual_seed(0)
        other = net.build(specs()["x3d-xs"])
        for (n, a), (_, b) in zip(self.model.state_dict().items(), other.state_dict().items()):
            self.assertTrue(torch.equal(a, b), n)


class FoldTest(unittest.TestCase):
    def _trained_like(self, spec):
        torch.manual_seed(1)
        model = net.build(spec)
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, torch.nn.BatchNorm3d):
                    m.weight.uniform_(0.5, 1.5)
                    m.bias.normal_(0, 0.2)
                    m.running_mean.normal_(0, 0.3)
                    m.running_var.uniform_(0.5, 2.0)
        return model.eval()

    def test_fold_preserves_output_and_removes_bn(self):
        model = self._trained_like(specs()["tiny"])
        folded = export.inference_copy(model)
        self.assertFalse(any(isinstance(m, torch.nn.BatchNorm3d) for m in folded.modules()))
        # The original keeps its BNs (export must not mutate the trainer's model).
        self.assertTrue(any(isinstance(m, torch.nn.BatchNorm3d) for m in model.modules()))
        x = torch.randn(model.input_shape(2))
        with torch.no_grad():
            diff = (model(x) - folded(x)).abs().max().item()
        self.assertLess(diff, 1e-5)

    def test_fully_convolutional_at_larger_crop(self):
        spec = specs()["tiny"]
        model = self._trained_like(spec)
        big = spec["crop_size"] + 32
        with torch.no_grad():
            y = model(torch.randn(1, 3, spec["frames"], big, big))
        self.assertEqual(tuple(y.shape), (1, spec["num_classes"]))

    def test_onnx_graph_uses_standard_ops(self):
        model = self._trained_like(specs()["tiny"])
        f = io.BytesIO()
        m = export.inference_copy(model)
        torch.onnx.export(m, torch.zeros(m.input_shape(1)), f, opset_version=13)
        ops = {n.op_type for n in onnx.load_from_string(f.getvalue()).graph.node}
        self.assertIn("Sigmoid", ops)
        self.assertIn("Mul", ops)
        for bad in ("BatchNormalization", "Pad", "HardSwish"):
            self.assertNotIn(bad, ops)


class SpecTest(unittest.TestCase):
    def test_counts_match_spec_file(self):
        for name, spec in specs().items():
            total, no_bn = net.build(spec, init=False).param_counts()
            self.assertGreater(total, no_bn, name)

    def test_rejects_inconsistent_specs(self):
        base = specs()["tiny"]
        cases = {
            "width chain": lambda s: s["stages"][1]["blocks"][0].__setitem__("in_channels", 7),
            "identity stride": lambda s: s["stages"][0]["blocks"][0].__setitem__("shortcut", "identity"),
            "shortcut kind": lambda s: s["stages"][0]["blocks"][0].__setitem__("shortcut", "avgpool"),
            "missing head": lambda s: s.pop("head"),
            "pool rank": lambda s: s["head"].__setitem__("pool_kernel", [1, 2]),
            "schema": lambda s: s.__setitem__("schema_version", 99),
            "bool width": lambda s: s["stem"].__setitem__("out_channels", True),
        }
        for what, mutate in cases.items():
            spec = json.loads(json.dumps(base))
            mutate(spec)
            with self.assertRaises(net.SpecError, msg=what):
                net.build(spec, init=False)


if __name__ == "__main__":
    unittest.main()
