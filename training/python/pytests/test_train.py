"""Unit tests of the training loop's pieces (schedule, decay groups, augmentations)."""
import math
import os
import json
import unittest

import torch

from actionstream_trainer import net, train


def specs():
    with open(os.environ["ACTIONSTREAM_TEST_SPECS"], encoding="utf-8") as f:
        return json.load(f)


class ScheduleTest(unittest.TestCase):
    def test_warmup_then_cosine(self):
        total, warm, base = 100, 10, 0.4
        self.assertAlmostEqual(train.lr_at(0, total, warm, base), base / warm)
        self.assertAlmostEqual(train.lr_at(9, total, warm, base), base)
        self.assertAlmostEqual(train.lr_at(10, total, warm, base), base)
        mid = train.lr_at(55, total, warm, base)
        self.assertAlmostEqual(mid, base * 0.5 * (1 + math.cos(math.pi * 0.5)))
        self.assertAlmostEqual(train.lr_at(100, total, warm, base), 0.0)
        self.assertAlmostEqual(train.lr_at(100, total, warm, base, final_frac=0.1), 0.04)
        lrs = [train.lr_at(s, total, warm, base) for s in range(warm, total)]
        self.assertTrue(all(a >= b for a, b in zip(lrs, lrs[1:])))


class DecayGroupsTest(unittest.TestCase):
    def test_no_decay_on_bn_and_bias(self):
        model = net.build(specs()["tiny"])
        decay, no_decay = train.param_groups(model, 5e-5)
        self.assertEqual(decay["weight_decay"], 5e-5)
        self.assertEqual(no_decay["weight_decay"], 0.0)
        ids = {id(p) for p in no_decay["params"]}
        for mod in model.modules():
            for name, p in mod.named_parameters(recurse=False):
                want_no = isinstance(mod, torch.nn.BatchNorm3d) or name == "bias"
                self.assertEqual(id(p) in ids, want_no, f"{type(mod).__name__}.{name}")
        total = sum(p.numel() for g in (decay, no_decay) for p in g["params"])
        self.assertEqual(total, sum(p.numel() for p in model.parameters()))


class AugmentTest(unittest.TestCase):
    labels = ["left", "right", "static"]

    def test_label_map(self):
        self.assertEqual(train.label_map("left:right", self.labels), [1, 0, 2])
        self.assertEqual(train.label_map("", self.labels), [0, 1, 2])
        with self.assertRaises(ValueError):
            train.label_map("left:up", self.labels)

    def test_reverse_and_flip_remap_labels(self):
        n, t, s = 64, 4, 8
        x = torch.arange(n * 3 * t * s * s, dtype=torch.float32).reshape(n, 3, t, s, s)
        y = torch.tensor([i % 3 for i in range(n)])
        gen = torch.Generator().manual_seed(1)
        perm = train.label_map("left:right", self.labels)
        aug = train.Augment(s, s, 0, None, True, gen, vflip=False, reverse=True,
                            maps={"reverse": perm, "flip": perm})
        xr, yr = aug.labelled(x, y)
        rev = 0
        for i in range(n):
            if torch.equal(xr[i], x[i]):
                self.assertEqual(int(yr[i]), int(y[i]))
            else:
                self.assertTrue(torch.equal(xr[i], x[i].flip(1)), i)
                self.assertEqual(int(yr[i]), perm[int(y[i])])
                rev += 1
        self.assertTrue(10 < rev < 54, rev)
        xf, yf = aug._apply(x, y, "flip", -1)
        flipped = [i for i in range(n) if not torch.equal(xf[i], x[i])]
        self.assertTrue(flipped)
        for i in flipped:
            self.assertTrue(torch.equal(xf[i], x[i].flip(-1)))
            self.assertEqual(int(yf[i]), perm[int(y[i])])

    def test_single_frame(self):
        x = torch.arange(2 * 3 * 4, dtype=torch.float32).reshape(2, 3, 4, 1, 1)
        self.assertTrue(torch.equal(train.pick_frame(x, 2), x[:, :, 1:2]))
        self.assertTrue(torch.equal(train.pick_frame(x, -1), x[:, :, 2:3]))
        r = train.pick_frame(x, -1, torch.Generator().manual_seed(0))
        self.assertEqual(tuple(r.shape), (2, 3, 1, 1, 1))
        for i in range(2):
            self.assertTrue(any(torch.equal(r[i], x[i, :, k:k + 1]) for k in range(4)))


if __name__ == "__main__":
    unittest.main()
