"""Unit tests of the person detector (person.py): the exported head decodes exactly as
YOLOX's decode_outputs (grid order, (raw + cell) * stride, exp(raw) * stride, sigmoid
scores), and the target assignment."""
import unittest

import torch

from actionstream_trainer import person


class PersonTest(unittest.TestCase):
    def test_decode_matches_yolox(self):
        self.check_decode(person.STRIDES, 4 * 4 + 2 * 2)

    def test_decode_matches_yolox_fine_strides(self):
        # Heads on strides 4 and 8 (a 64-pixel key frame): 8x8 + 4x4 anchors at 32 px.
        self.check_decode((4, 8), 8 * 8 + 4 * 4)

    def test_bad_strides(self):
        for bad in ((6,), (8, 4), (8, 8), (2,), (64,)):
            with self.assertRaises(ValueError, msg=str(bad)):
                person.build(torch, width=8, strides=bad)

    def check_decode(self, strides, anchors):
        torch.manual_seed(0)
        model = person.build(torch, width=8, strides=strides).eval()
        x = torch.rand(2, 3, 32, 32) * 255
        with torch.no_grad():
            maps = model(x)
            got = person.Decoded.wrap(torch, model, 32, strides)(x)
        self.assertEqual([m.shape[-1] for m in maps], [32 // s for s in strides])
        # YOLOX: level by level, cells row-major (y outer, x inner), x then y in the grid.
        rows = []
        for m, s in zip(maps, strides):
            n, c, h, w = m.shape
            for gy in range(h):
                for gx in range(w):
                    r = m[:, :, gy, gx]
                    rows.append(torch.cat([(r[:, 0:1] + gx) * s, (r[:, 1:2] + gy) * s,
                                           torch.exp(r[:, 2:4]) * s, r[:, 4:].sigmoid()], 1))
        want = torch.stack(rows, 1)
        self.assertEqual(tuple(got.shape), (2, anchors, 6))
        self.assertTrue(torch.allclose(got, want, atol=1e-4), (got - want).abs().max())

    def test_assign_centre_cells_smallest_box(self):
        cell, stride = person.grids(torch, 32)
        centres = (cell + 0.5) * stride
        big = [0.0, 0.0, 32.0, 32.0]
        small = [8.0, 8.0, 16.0, 16.0]  # holds the stride-8 anchor centred at (12, 12)
        pos, which = person.assign(torch, torch.tensor([big, small]), centres, stride)
        got = {int(a): int(b) for a, b in zip(pos, which)}
        a12 = 1 * 4 + 1  # stride-8 cell (1, 1)
        self.assertEqual(got.get(a12), 1, got)
        # Every positive lies inside its box and within 1.5 cells of its centre.
        boxes = torch.tensor([big, small])
        for a, b in got.items():
            cx, cy = centres[a]
            x1, y1, x2, y2 = boxes[b]
            self.assertTrue(x1 < cx < x2 and y1 < cy < y2)
            self.assertLess(abs(cx - (x1 + x2) / 2), 1.5 * stride[a, 0])
        empty_pos, _ = person.assign(torch, torch.zeros(0, 4), centres, stride)
        self.assertEqual(empty_pos.numel(), 0)


if __name__ == "__main__":
    unittest.main()
