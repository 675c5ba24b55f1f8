"""Detection heads: target encoding, losses, the contract's decoding, RoIAlign, AP, and the
backbone taken from an exported classification model."""
import json
import math
import os
import tempfile
import unittest

import numpy as np
import torch

from actionstream_trainer import data, detect, detfit, export, net


def specs():
    with open(os.environ["ACTIONSTREAM_TEST_SPECS"], encoding="utf-8") as f:
        return json.load(f)


def logit(p):
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


class EncodeTest(unittest.TestCase):
    def test_centre_cell_size_offset_actions(self):
        g, c = 6, 4
        box = (0.30, 0.10, 0.50, 0.40)  # centre (0.40, 0.25) -> cells (2.4, 1.5)
        heat, size, off, act, mask = detect.encode([(2, box)], g, c)
        self.assertEqual(float(heat[0, 1, 2]), 1.0)
        self.assertEqual(float(heat.max()), 1.0)
        self.assertEqual(int(mask.sum()), 1)
        self.assertEqual(float(mask[1, 2]), 1.0)
        self.assertAlmostEqual(float(size[0, 1, 2]), 0.20, places=6)
        self.assertAlmostEqual(float(size[1, 1, 2]), 0.30, places=6)
        self.assertAlmostEqual(float(off[0, 1, 2]), 0.4, places=5)
        self.assertAlmostEqual(float(off[1, 1, 2]), 0.5, places=5)
        self.assertEqual(act[:, 1, 2].tolist(), [0.0, 0.0, 1.0, 0.0])
        self.assertEqual(float(act.sum()), 1.0)
        # The Gaussian falls off with distance from the centre cell.
        self.assertLess(float(heat[0, 1, 3]), 1.0)
        self.assertGreater(float(heat[0, 1, 3]), float(heat[0, 1, 5]))

    def test_two_actors_and_empty_boxes(self):
        heat, _, _, act, mask = detect.encode([(0, (0.0, 0.0, 0.2, 0.2)), (1, (0.7, 0.7, 0.9, 0.95)),
                                               (3, (0.5, 0.5, 0.5, 0.6))], 4, 4)
        self.assertEqual(int(mask.sum()), 2)  # the zero-width box is skipped
        self.assertEqual(float(act[0, 0, 0]), 1.0)
        self.assertEqual(float(act[1, 3, 3]), 1.0)
        self.assertEqual(float(act[3].sum()), 0.0)
        self.assertEqual(int((heat == 1.0).sum()), 2)

    def test_gaussian_radius_grows_with_the_box(self):
        small, big = detect.gaussian_radius(1.0, 1.0), detect.gaussian_radius(3.0, 3.0)
        self.assertGreater(small, 0.0)
        self.assertGreater(big, small)


class LossTest(unittest.TestCase):
    def targets(self):
        t = detect.encode([(1, (0.1, 0.1, 0.4, 0.5)), (2, (0.55, 0.5, 0.9, 0.8))], 4, 3)
        return tuple(x.unsqueeze(0) for x in t)

    def perfect(self, t, sharp=12.0):
        heat, size, off, act, _ = t
        heat_l = torch.where(heat == 1.0, torch.full_like(heat, sharp), torch.full_like(heat, -sharp))
        size_l = detect._logit(size)  # the loss's own clamp (targets 0 and 1 are not reachable)
        off_l = detect._logit(off)
        act_l = torch.where(act == 1.0, torch.full_like(act, sharp), torch.full_like(act, -sharp))
        return heat_l, size_l, off_l, act_l

    def test_perfect_prediction_costs_nothing(self):
        t = self.targets()
        total, parts = detect.centre_losses(self.perfect(t), t)
        self.assertLess(float(total), 1e-3)
        for k, v in parts.items():
            self.assertLess(v, 1e-3, k)

    def test_each_error_is_seen(self):
        t = self.targets()
        base = self.perfect(t)
        for i, name in enumerate(["heat", "size", "offset", "actions"]):
            bad = list(base)
            bad[i] = torch.zeros_like(bad[i])  # probability 0.5 everywhere
            _, parts = detect.centre_losses(tuple(bad), t)
            self.assertGreater(parts[name], 0.05, name)

    def test_focal_loss_is_normalised_by_centres(self):
        heat = torch.zeros(1, 1, 4, 4)
        heat[0, 0, 1, 1] = 1.0
        logits = torch.zeros(1, 1, 4, 4)
        one = detect.focal_loss(logits, heat)
        heat2 = heat.clone()
        heat2[0, 0, 3, 3] = 1.0
        two = detect.focal_loss(logits, heat2)
        # Each centre at p=0.5 costs log(2)/4; negatives (1-y)^4-weighted; per-centre means
        # stay comparable.
        self.assertAlmostEqual(float(one), (math.log(2) * 0.25 + 15 * math.log(2) * 0.25) / 1, places=4)
        self.assertLess(float(two), float(one))


class DecodeTest(unittest.TestCase):
    def test_targets_decode_to_their_boxes(self):
        g, stride, c = 6, 16, 3
        boxes = [(0, (0.1, 0.12, 0.3, 0.4)), (2, (0.55, 0.6, 0.85, 0.9))]
        heat, size, off, act, _ = detect.encode(boxes, g, c)
        dets = detect.decode(heat[0], size, off, act, stride)
        self.assertEqual(len(dets), 2)
        for (label, box), (score, got, scores) in zip(boxes, dets):
            self.assertEqual(score, 1.0)
            self.assertGreater(detect.iou(box, got), 0.999)
            self.assertEqual(max(range(c), key=lambda k: scores[k]), label)

    def test_min_score_and_max_actors(self):
        heat = torch.zeros(4, 4)
        heat[0, 0], heat[3, 3], heat[0, 3] = 0.9, 0.5, 0.2
        z2, z1 = torch.zeros(2, 4, 4), torch.zeros(1, 4, 4)
        self.assertEqual(len(detect.decode(heat, z2 + 0.1, z2, z1, 16)), 2)
        self.assertEqual(len(detect.decode(heat, z2 + 0.1, z2, z1, 16, max_actors=1)), 1)
        self.assertEqual(len(detect.decode(heat, z2 + 0.1, z2, z1, 16, min_score=0.1)), 3)

    def test_neighbour_suppression(self):
        heat = torch.zeros(4, 4)
        heat[1, 1], heat[1, 2] = 0.9, 0.8  # 0.8 has a higher neighbour: not a peak
        z2, z1 = torch.zeros(2, 4, 4), torch.zeros(1, 4, 4)
        self.assertEqual(len(detect.decode(heat, z2 + 0.1, z2, z1, 16)), 1)


def roi_align_loops(feat, boxes, bidx, out, scale, sr):
    """The ONNX RoiAlign definition (avg, half_pixel) written as plain loops."""
    k = boxes.shape[0]
    _, c, h, w = feat.shape
    res = torch.zeros(k, c, out, out, dtype=torch.float64)

    def bilinear(f, y, x):
        if y < -1.0 or y > h or x < -1.0 or x > w:
            return torch.zeros(c, dtype=torch.float64)
        y, x = max(y, 0.0), max(x, 0.0)
        yl, xl = int(y), int(x)
        if yl >= h - 1:
            yh = yl = h - 1
            y = float(yl)
        else:
            yh = yl + 1
        if xl >= w - 1:
            xh = xl = w - 1
            x = float(xl)
        else:
            xh = xl + 1
        ly, lx = y - yl, x - xl
        hy, hx = 1 - ly, 1 - lx
        return hy * hx * f[:, yl, xl] + hy * lx * f[:, yl, xh] + ly * hx * f[:, yh, xl] + ly * lx * f[:, yh, xh]

    for r in range(k):
        f = feat[int(bidx[r])].double()
        x1, y1, x2, y2 = (float(v) * scale - 0.5 for v in boxes[r])
        bw, bh = (x2 - x1) / out, (y2 - y1) / out
        for ph in range(out):
            for pw in range(out):
                acc = torch.zeros(c, dtype=torch.float64)
                for iy in range(sr):
                    for ix in range(sr):
                        y = y1 + ph * bh + (iy + 0.5) * bh / sr
                        x = x1 + pw * bw + (ix + 0.5) * bw / sr
                        acc += bilinear(f, y, x)
                res[r, :, ph, pw] = acc / (sr * sr)
    return res


class RoIAlignTest(unittest.TestCase):
    def test_matches_the_operator_definition(self):
        torch.manual_seed(0)
        feat = torch.randn(2, 3, 6, 6)
        boxes = torch.tensor([[0.1, 0.2, 0.5, 0.6], [0.0, 0.0, 1.0, 1.0], [0.7, 0.6, 1.1, 1.05],
                              [-0.2, -0.1, 0.1, 0.2], [0.4, 0.4, 0.42, 0.45]])
        bidx = torch.tensor([0, 1, 1, 0, 1])
        got = detect.roi_align(feat, boxes, bidx, 3, 6.0, 2)
        want = roi_align_loops(feat, boxes, bidx, 3, 6.0, 2)
        self.assertLess(float((got.double() - want).abs().max()), 1e-5)

    def test_linear_map_samples_exactly(self):
        # On a map linear in x, avg bilinear samples equal the ramp at each bin centre.
        feat = torch.arange(8.0).repeat(8, 1)[None, None]  # value = x index
        r = detect.roi_align(feat, torch.tensor([[0.25, 0.25, 0.75, 0.75]]), torch.tensor([0]), 2, 8.0, 2)
        # box in feature units (half-pixel): 1.5..5.5, bins centred at 2.5 and 4.5
        self.assertAlmostEqual(float(r[0, 0, 0, 0]), 2.5, places=5)
        self.assertAlmostEqual(float(r[0, 0, 1, 1]), 4.5, places=5)

    def test_gradients_flow(self):
        feat = torch.randn(1, 2, 4, 4, requires_grad=True)
        detect.roi_align(feat, torch.tensor([[0.1, 0.1, 0.8, 0.9]]), torch.tensor([0]), 2, 4.0, 2).sum().backward()
        self.assertGreater(float(feat.grad.abs().sum()), 0.0)


class APTest(unittest.TestCase):
    def test_known_answers(self):
        truths = {0: [(0, [0.0, 0.0, 0.5, 0.5])], 1: [(0, [0.5, 0.5, 1.0, 1.0]), (1, [0.0, 0.0, 0.4, 0.4])]}
        dets = [
            (0, 0, 0.9, [0.0, 0.0, 0.5, 0.5]),   # TP
            (1, 0, 0.8, [0.0, 0.0, 0.3, 0.3]),   # FP (no overlap with frame 1's class-0 truth)
            (1, 0, 0.7, [0.5, 0.5, 1.0, 0.95]),  # TP (IoU 0.9)
            (1, 1, 0.6, [0.0, 0.0, 0.4, 0.4]),   # TP
            (1, 1, 0.5, [0.0, 0.0, 0.4, 0.4]),   # FP: the truth is taken
        ]
        aps = detect.average_precision(dets, truths, 3)
        # class 0: precision 1 at recall 0.5, 2/3 at recall 1 -> 0.5*1 + 0.5*2/3
        self.assertAlmostEqual(aps[0], 0.5 + 0.5 * 2 / 3)
        self.assertAlmostEqual(aps[1], 1.0)
        self.assertIsNone(aps[2])

    def test_iou_threshold(self):
        truths = {0: [(0, [0.0, 0.0, 1.0, 1.0])]}
        self.assertEqual(detect.average_precision([(0, 0, 1.0, [0.0, 0.0, 1.0, 0.49])], truths, 1)[0], 0.0)
        self.assertEqual(detect.average_precision([(0, 0, 1.0, [0.0, 0.0, 1.0, 0.51])], truths, 1)[0], 1.0)


class NetworkTest(unittest.TestCase):
    def test_single_stage_shapes_and_prior(self):
        s = specs()["tiny-det"]
        m = net.build(s).eval()
        g = s["crop_size"] // s["detection"]["stride"]
        with torch.no_grad():
            heat, size, off, act = m(torch.randn(2, 3, s["frames"], s["crop_size"], s["crop_size"]))
        self.assertEqual(tuple(heat.shape), (2, 1, g, g))
        self.assertEqual(tuple(size.shape), (2, 2, g, g))
        self.assertEqual(tuple(off.shape), (2, 2, g, g))
        self.assertEqual(tuple(act.shape), (2, s["num_classes"], g, g))
        self.assertAlmostEqual(float(m.det_head.heatmap.out.bias), logit(detect.HEAT_PRIOR), places=5)

    def test_roi_shapes_and_batch_index(self):
        s = specs()["tiny-roi"]
        m = net.build(s).eval()
        x = torch.randn(2, 3, s["frames"], s["crop_size"], s["crop_size"])
        rois = torch.tensor([[0, 0.1, 0.1, 0.5, 0.5], [1, 0.1, 0.1, 0.5, 0.5], [1, 0.3, 0.2, 0.9, 0.8]])
        with torch.no_grad():
            y = m(x, rois)
            alone = m(x[1:], torch.tensor([[0, 0.1, 0.1, 0.5, 0.5]]))
        self.assertEqual(tuple(y.shape), (3, s["num_classes"]))
        self.assertLess(float((y[1] - alone[0]).abs().max()), 1e-4)  # row 1 reads clip 1
        self.assertGreater(float((y[0] - y[1]).abs().max()), 1e-6)

    def test_spec_errors(self):
        s = dict(specs()["tiny-det"])
        s["detection"] = dict(s["detection"], stride=2)
        with self.assertRaises(net.SpecError):
            net.build(s)
        s["detection"] = dict(s["detection"], stride=16, mode="boxes")
        with self.assertRaises(net.SpecError):
            net.build(s)

    def test_backbone_from_exported_classifier(self):
        cls_spec = specs()["tiny64"]
        torch.manual_seed(1)
        cls = net.build(cls_spec)
        from actionstream_trainer.__main__ import randomize_bn
        randomize_bn(cls, torch)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "cls.onnx")
            export.export(cls, path, {})
            det = net.build(specs()["tiny-det"])
            n, fixed = detfit.load_onnx_init(det, path)
            self.assertGreater(n, 10)
            self.assertEqual(fixed, [det.stem, det.stages])  # a classifier has no neck or head
        det.eval()
        x = torch.randn(1, 3, cls_spec["frames"], 64, 64)
        with torch.no_grad():
            want = cls.stages(cls.stem(x))
            got = det.stages(det.stem(x))
        self.assertLess(float((want - got).abs().max()), 1e-4 * float(want.abs().max()))

    def test_whole_network_from_exported_detection_model(self):
        # Fine-tuning a shipped detection model starts from all of it: the same outputs.
        spec = specs()["tiny-det"]
        torch.manual_seed(3)
        src = net.build(spec)
        from actionstream_trainer.__main__ import randomize_bn
        randomize_bn(src, torch)
        meta = {"actionstream.task": "detection", "actionstream.detection.mode": "single_stage"}
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "det.onnx")
            export.export(src, path, meta)
            dst = net.build(spec)
            _, fixed = detfit.load_onnx_init(dst, path)
        self.assertEqual(fixed, [dst.stem, dst.stages, dst.neck, dst.det_head])
        src.eval()
        dst.eval()
        x = torch.randn(2, 3, spec["frames"], spec["crop_size"], spec["crop_size"])
        with torch.no_grad():
            for want, got in zip(src(x), dst(x)):
                self.assertLess(float((want - got).abs().max()), 1e-4 * max(1.0, float(want.abs().max())))

    def test_single_stage_export_applies_sigmoids(self):
        m = net.build(specs()["tiny-det"])
        module, dummy, ins, outs, _ = export.graph_io(export.inference_copy(m))
        self.assertEqual(outs, ["heatmap", "size", "offset", "actions"])
        with torch.no_grad():
            ys = module(*dummy)
        for y in ys:
            self.assertGreaterEqual(float(y.min()), 0.0)
            self.assertLessEqual(float(y.max()), 1.0)


class StrideFourTest(unittest.TestCase):
    def test_single_stage_grid_from_res2(self):
        s = dict(specs()["tiny-det"])
        s["detection"] = dict(s["detection"], stride=4)
        m = net.build(s).eval()
        self.assertEqual(len(m.neck.lat), 4)
        with torch.no_grad():
            heat, _, _, act = m(torch.randn(1, 3, s["frames"], s["crop_size"], s["crop_size"]))
        g = s["crop_size"] // 4
        self.assertEqual(tuple(heat.shape), (1, 1, g, g))
        self.assertEqual(tuple(act.shape), (1, s["num_classes"], g, g))


class FeatureCacheTest(unittest.TestCase):
    def test_one_cache_serves_every_stride(self):
        torch.manual_seed(2)
        s8 = specs()["tiny-det"]
        m8 = net.build(s8).eval()
        t, sz = s8["frames"], s8["crop_size"]
        rng = np.random.default_rng(0)
        clips = rng.integers(0, 256, (3, 3, t, sz, sz), dtype=np.uint8)
        split = data.Split("train", clips, np.zeros(3, dtype=np.int64), [{}] * 3)
        lut = torch.from_numpy(np.tile(np.linspace(-1, 1, 256, dtype=np.float32), (3, 1)))
        ds = type("DS", (), {"crop_offset": 0, "size": sz})()
        cache = detfit.FeatureCache(m8, split, lut, ds, torch.device("cpu"), ["none", "h"], 2)
        self.assertEqual(len(cache.feats), len(m8.stages))  # every stage kept
        x = cache.batch(torch.arange(3), torch.zeros(3, dtype=torch.long))
        self.assertEqual(len(x), len(m8.neck.lat))
        with torch.no_grad():
            want = m8(data.centre(data.to_float(torch.from_numpy(clips), lut), 0, sz).contiguous())
            got = detfit.model_forward(m8, x)
        for w, g in zip(want, got):
            self.assertLess(float((w - g).abs().max()), 1e-4)
        # The mirrored variant is the mirrored clips' features.
        xh = cache.batch(torch.arange(3), torch.ones(3, dtype=torch.long))
        self.assertGreater(float((xh[0] - x[0]).abs().max()), 1e-6)
        # A stride-4 neck reads all four stages of the same cache, a stride-16 one the last two.
        for stride, levels in ((4, 4), (16, 2)):
            s = dict(s8)
            s["detection"] = dict(s8["detection"], stride=stride)
            m = net.build(s).eval()
            cache.levels = len(m.neck.lat)
            self.assertEqual(cache.levels, levels)
            with torch.no_grad():
                heat = detfit.model_forward(m, cache.batch(torch.arange(3), torch.zeros(3, dtype=torch.long)))[0]
            self.assertEqual(heat.shape[-1], sz // stride)


class RoINegativesTest(unittest.TestCase):
    def test_background_boxes_miss_every_actor(self):
        gen = torch.Generator().manual_seed(3)
        acts = [[(0, (0.1, 0.1, 0.3, 0.4)), (2, (0.5, 0.5, 0.7, 0.8))], [], [(1, (0.2, 0.2, 0.5, 0.5))]]
        rows = detfit.negative_rois(acts, gen, 3)
        self.assertEqual(tuple(rows.shape), (6, 5))
        self.assertEqual(sorted(set(rows[:, 0].tolist())), [0.0, 2.0])  # a clip without actors gets none
        sizes = {0: [(0.2, 0.3), (0.2, 0.3)], 2: [(0.3, 0.3)]}
        for r in rows.tolist():
            b, box = int(r[0]), r[1:]
            self.assertTrue(0 <= box[0] < box[2] <= 1 and 0 <= box[1] < box[3] <= 1, box)
            for _, truth in acts[b]:
                self.assertLess(detect.iou(box, list(truth)), 0.3)
            w, h = box[2] - box[0], box[3] - box[1]
            self.assertTrue(any(0.7 * sw - 1e-6 <= w <= 1.4 * sw + 1e-6 and 0.7 * sh - 1e-6 <= h <= 1.4 * sh + 1e-6
                                for sw, sh in sizes[b]), box)
        self.assertEqual(detfit.negative_rois(acts, gen, 0).shape[0], 0)
        y = detfit.multi_hot([0, 2], 4, 3)
        self.assertEqual(tuple(y.shape), (5, 4))
        self.assertEqual(float(y[0, 0]) + float(y[1, 2]), 2.0)
        self.assertEqual(float(y.sum()), 2.0)


if __name__ == "__main__":
    unittest.main()
