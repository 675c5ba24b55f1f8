"""Detection heads on the X3D backbone (docs/MODEL_CONTRACT.md, "Detection models").

Both heads read the same neck: the last stages' outputs (res4, res5 for stride 16; res3..res5
for stride 8; res2..res5 for stride 4) averaged over time, each through a 1x1x1 conv + BN, the coarser ones upsampled
(nearest) to the finest and summed, ReLU, a 1x3x3 conv + BN + ReLU: a map of G = S/stride
cells. Everything stays 5-D ([N,C,1,G,G]) so the backbone's ConvBN folding covers the heads.

single_stage: per-cell heads (1x3x3 conv + ReLU + 1x1x1 conv) for the actor-centre heatmap,
  box size (w, h as fractions of S), centre offset in the cell and per-class action scores.
roi: RoIAlign (avg, half-pixel, sampling ratio 2) of the neck map at the given boxes,
  spatial max pool, linear classifier.

The network returns logits; the export wrappers apply the sigmoids the contract fixes.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn

MODES = ("single_stage", "roi")
HEAT_PRIOR = 0.1  # initial heat probability, as CenterNet (bias -2.19)


class DetectionSpecError(ValueError):
    pass


def _int(d, key, where="detection"):
    v = d.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
        raise DetectionSpecError(f"{where}.{key}: want a positive integer, got {v!r}")
    return v


class Neck(nn.Module):
    """Lateral 1x1x1 conv + BN of each level (finest first), the coarser ones upsampled
    (nearest, x2 per level) to the finest and summed, ReLU, a 1x3x3 conv + BN + ReLU."""

    def __init__(self, widths, ch, convbn, bn):
        super().__init__()
        self.lat = nn.ModuleList([convbn(nn.Conv3d(c, ch, 1, bias=False), bn(ch)) for c in widths])
        self.relu = nn.ReLU(inplace=True)
        self.fuse = convbn(nn.Conv3d(ch, ch, (1, 3, 3), padding=(0, 1, 1), bias=False), bn(ch))

    def forward(self, *feats):
        # Averaging over time first is exact for the 1x1x1 convs and cheaper.
        y = None
        for k, (lat, f) in enumerate(zip(self.lat, feats)):
            t = lat(f.mean(dim=2, keepdim=True))
            if k:
                t = F.interpolate(t, scale_factor=(1.0, float(2 ** k), float(2 ** k)), mode="nearest")
            y = t if y is None else y + t
        return self.relu(self.fuse(self.relu(y)))


class Branch(nn.Module):
    def __init__(self, ch, out):
        super().__init__()
        self.conv = nn.Conv3d(ch, ch, (1, 3, 3), padding=(0, 1, 1), bias=True)
        self.relu = nn.ReLU(inplace=True)
        self.out = nn.Conv3d(ch, out, 1, bias=True)

    def forward(self, x):
        return self.out(self.relu(self.conv(x)))


class CenterHead(nn.Module):
    def __init__(self, ch, classes):
        super().__init__()
        self.heatmap = Branch(ch, 1)
        self.size = Branch(ch, 2)
        self.offset = Branch(ch, 2)
        self.actions = Branch(ch, classes)

    def init_bias(self):
        nn.init.constant_(self.heatmap.out.bias, -math.log((1 - HEAT_PRIOR) / HEAT_PRIOR))

    def forward(self, y):
        sq = lambda t: t.squeeze(2)  # noqa: E731  [N,C,1,G,G] -> [N,C,G,G]
        return sq(self.heatmap(y)), sq(self.size(y)), sq(self.offset(y)), sq(self.actions(y))


# --- RoIAlign ------------------------------------------------------------------------------

def roi_align(feat, boxes, batch_idx, out_size, spatial_scale, sampling_ratio):
    """ONNX RoiAlign (mode avg, coordinate_transformation_mode half_pixel), written with
    differentiable torch ops: feat [N,C,H,W], boxes [K,4] (x1,y1,x2,y2 in input units,
    multiplied by spatial_scale), batch_idx [K] int64 -> [K,C,out,out]. Sample points and
    border rules follow the ONNX operator definition (a sample more than one cell outside
    the map contributes 0; coordinates below 0 clamp to 0; the last row/column repeats)."""
    k = boxes.shape[0]
    n, c, h, w = feat.shape
    p = out_size * sampling_ratio
    b = boxes * spatial_scale - 0.5
    x1, y1, x2, y2 = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    t = (torch.arange(p, dtype=feat.dtype, device=feat.device) + 0.5) / sampling_ratio
    ys = y1[:, None] + t[None, :] * ((y2 - y1) / out_size)[:, None]   # [K,P]
    xs = x1[:, None] + t[None, :] * ((x2 - x1) / out_size)[:, None]

    def axis(v, size):
        valid = ((v >= -1.0) & (v <= size)).to(v.dtype)
        v = v.clamp(min=0.0)
        lo = v.floor().long()
        end = lo >= size - 1
        lo = torch.where(end, torch.full_like(lo, size - 1), lo)
        hi = torch.where(end, lo, lo + 1)
        v = torch.where(end, lo.to(v.dtype), v)
        frac = v - lo.to(v.dtype)
        return lo, hi, frac * valid, (1.0 - frac) * valid

    ylo, yhi, ly, hy = axis(ys, h)
    xlo, xhi, lx, hx = axis(xs, w)
    flat = feat.reshape(n, c, h * w)[batch_idx]                       # [K,C,HW]

    def gather(yi, xi):
        idx = (yi[:, :, None] * w + xi[:, None, :]).reshape(k, 1, p * p).expand(k, c, p * p)
        return flat.gather(2, idx).reshape(k, c, p, p)

    wy = lambda a: a[:, None, :, None]  # noqa: E731
    wx = lambda a: a[:, None, None, :]  # noqa: E731
    v = (gather(ylo, xlo) * wy(hy) * wx(hx) + gather(ylo, xhi) * wy(hy) * wx(lx)
         + gather(yhi, xlo) * wy(ly) * wx(hx) + gather(yhi, xhi) * wy(ly) * wx(lx))
    return v.reshape(k, c, out_size, sampling_ratio, out_size, sampling_ratio).mean(dim=(3, 5))


class _RoiAlignOp(torch.autograd.Function):
    """roi_align as one ONNX RoiAlign node (used only for export; no backward)."""

    @staticmethod
    def forward(ctx, feat, boxes, batch_idx, out_size, spatial_scale, sampling_ratio):
        return roi_align(feat, boxes, batch_idx, out_size, spatial_scale, sampling_ratio)

    @staticmethod
    def symbolic(g, feat, boxes, batch_idx, out_size, spatial_scale, sampling_ratio):
        return g.op("RoiAlign", feat, boxes, batch_idx, mode_s="avg",
                    coordinate_transformation_mode_s="half_pixel",
                    output_height_i=out_size, output_width_i=out_size,
                    sampling_ratio_i=sampling_ratio, spatial_scale_f=spatial_scale)


class RoIHead(nn.Module):
    def __init__(self, ch, classes, grid, out_size, sampling_ratio, dropout):
        super().__init__()
        self.grid, self.out_size, self.sampling_ratio = grid, out_size, sampling_ratio
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(ch, classes, bias=True)
        self.export_op = False

    def forward(self, y, rois):
        """y [N,C,1,G,G]; rois [K,5] = (batch index, x1, y1, x2, y2 as fractions of S)."""
        feat = y.squeeze(2)
        bidx = rois[:, 0].long()
        boxes = rois[:, 1:5]
        scale = float(self.grid)  # fractions of S -> cells
        if self.export_op:
            r = _RoiAlignOp.apply(feat, boxes, bidx, self.out_size, scale, self.sampling_ratio)
        else:
            r = roi_align(feat, boxes, bidx, self.out_size, scale, self.sampling_ratio)
        r = r.amax(dim=(2, 3))
        return self.proj(self.dropout(r))


STRIDE_LEVELS = {4: 4, 8: 3, 16: 2}  # stride -> how many of the last stages the neck fuses


def levels(det):
    stride = _int(det, "stride")
    if stride not in STRIDE_LEVELS:
        raise DetectionSpecError(f"detection.stride {stride}: want 4 (res2..res5), 8 (res3..res5) or 16 (res4, res5)")
    return STRIDE_LEVELS[stride]


def build_head(det, widths, classes, crop, convbn, bn):
    """The neck and the mode's head from the spec's "detection" object; widths are the
    output widths of the stages the neck reads (finest first)."""
    mode = det.get("mode")
    if mode not in MODES:
        raise DetectionSpecError(f"detection.mode: {mode!r} is not one of {MODES}")
    stride = _int(det, "stride")
    if crop % 32 != 0:
        raise DetectionSpecError(f"crop {crop}: a detection network needs a multiple of 32")
    ch = _int(det, "channels")
    neck = Neck(widths, ch, convbn, bn)
    if mode == "single_stage":
        return neck, CenterHead(ch, classes)
    return neck, RoIHead(ch, classes, crop // stride, _int(det, "roi_size"), _int(det, "sampling_ratio"),
                         float(det.get("dropout", 0.0)))


# --- targets and losses --------------------------------------------------------------------

def gaussian_radius(h, w, min_overlap=0.7):
    """CenterNet's radius (in cells) within which a shifted box of size h x w keeps IoU >=
    min_overlap with the true one (the smallest of its three cases)."""
    a1, b1 = 1.0, h + w
    c1 = w * h * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + math.sqrt(max(b1 ** 2 - 4 * a1 * c1, 0.0))) / 2
    a2, b2 = 4.0, 2 * (h + w)
    c2 = (1 - min_overlap) * w * h
    r2 = (b2 + math.sqrt(max(b2 ** 2 - 4 * a2 * c2, 0.0))) / 2
    a3, b3 = 4 * min_overlap, -2 * min_overlap * (h + w)
    c3 = (min_overlap - 1) * w * h
    r3 = (b3 + math.sqrt(max(b3 ** 2 - 4 * a3 * c3, 0.0))) / 2
    return min(r1, r2, r3)


def encode(actors, grid, classes):
    """Targets of one clip: actors = [(label, (x1,y1,x2,y2) fractions of S)]. Returns heat
    [1,G,G] (a Gaussian per actor, 1 at its centre cell, max where they overlap), size
    [2,G,G] (w,h fractions), offset [2,G,G] (centre inside its cell, cells, [0,1)),
    actions [C,G,G] (multi-hot) and mask [G,G] (1 at actor centre cells). The centre cell
    is floor(centre * G), the cell the decoder's peak must land on."""
    heat = torch.zeros(1, grid, grid)
    size = torch.zeros(2, grid, grid)
    off = torch.zeros(2, grid, grid)
    act = torch.zeros(classes, grid, grid)
    mask = torch.zeros(grid, grid)
    ys = torch.arange(grid, dtype=torch.float32)[:, None]
    xs = torch.arange(grid, dtype=torch.float32)[None, :]
    for label, (x1, y1, x2, y2) in actors:
        w, h = x2 - x1, y2 - y1
        if w <= 0 or h <= 0:
            continue
        cx, cy = (x1 + x2) / 2 * grid, (y1 + y2) / 2 * grid
        gx, gy = min(int(cx), grid - 1), min(int(cy), grid - 1)
        r = gaussian_radius(h * grid, w * grid)
        sigma = (2 * r + 1) / 6
        g = torch.exp(-((xs - gx) ** 2 + (ys - gy) ** 2) / (2 * sigma * sigma))
        heat[0] = torch.maximum(heat[0], g)
        size[0, gy, gx], size[1, gy, gx] = w, h
        off[0, gy, gx], off[1, gy, gx] = min(max(cx - gx, 0.0), 1.0), min(max(cy - gy, 0.0), 1.0)
        act[label, gy, gx] = 1.0
        mask[gy, gx] = 1.0
    return heat, size, off, act, mask


def focal_loss(logits, target, alpha=2.0, beta=4.0):
    """CenterNet's penalty-reduced pixel focal loss, summed and divided by the number of
    centres (at least 1)."""
    p = torch.sigmoid(logits)
    pos = target.eq(1.0).float()
    neg = 1.0 - pos
    logp, log1p = F.logsigmoid(logits), F.logsigmoid(-logits)
    pos_loss = -(logp * (1 - p) ** alpha * pos).sum()
    neg_loss = -(log1p * p ** alpha * (1 - target) ** beta * neg).sum()
    return (pos_loss + neg_loss) / pos.sum().clamp(min=1.0)


def _logit(t, eps=0.01):
    t = t.clamp(eps, 1 - eps)
    return torch.log(t / (1 - t))


def centre_losses(out, targets, weights=(1.0, 5.0, 2.0, 1.0)):
    """Total and parts: focal on the heatmap; L1 on size and offset at centres, measured on
    the logits against logit(target) (the export's sigmoid gives the fractions; an L1 on the
    sigmoid itself stops learning once a logit saturates, which a shared neck's early swings
    cause); BCE on the action logits at centres (every class)."""
    heat_l, size_l, off_l, act_l = out
    heat, size, off, act, mask = targets
    n = mask.sum().clamp(min=1.0)
    m = mask[:, None]
    lf = focal_loss(heat_l, heat)
    ls = (torch.abs(size_l - _logit(size)) * m).sum() / (2 * n)
    lo = (torch.abs(off_l - _logit(off)) * m).sum() / (2 * n)
    bce = F.binary_cross_entropy_with_logits(act_l, act, reduction="none")
    la = (bce * m).sum() / (act.shape[1] * n)
    total = weights[0] * lf + weights[1] * ls + weights[2] * lo + weights[3] * la * act.shape[1] / 4
    return total, {"heat": float(lf), "size": float(ls), "offset": float(lo), "actions": float(la)}


def decode(heat, size, off, act, stride, min_score=0.3, max_actors=8):
    """The contract's decoding of one clip (activated outputs as numpy/torch [.,G,G]):
    3x3 local maxima with heat >= min_score, best max_actors; returns [(score, box, scores)]
    with boxes in crop fractions. Mirrors infer/detect for validation during training."""
    g = heat.shape[-1]
    h = heat.reshape(1, 1, g, g)
    mx = F.max_pool2d(h, 3, stride=1, padding=1)
    peaks = ((h >= mx) & (h >= min_score)).reshape(g, g)
    cand = [(float(heat.reshape(g, g)[y, x]), y, x) for y, x in peaks.nonzero().tolist()]
    cand.sort(key=lambda c: (-c[0], c[1], c[2]))
    out = []
    s = g * stride
    for score, y, x in cand[:max_actors]:
        cx = (x + float(off[0, y, x])) * stride / s
        cy = (y + float(off[1, y, x])) * stride / s
        w, hh = float(size[0, y, x]), float(size[1, y, x])
        box = [min(max(cx - w / 2, 0.0), 1.0), min(max(cy - hh / 2, 0.0), 1.0),
               min(max(cx + w / 2, 0.0), 1.0), min(max(cy + hh / 2, 0.0), 1.0)]
        out.append((score, box, [float(v) for v in act[:, y, x]]))
    return out


def iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def average_precision(dets, truths, classes, thr=0.5):
    """Frame-level AP per class (VOC all-point interpolation, as AVA's evaluator): dets =
    [(frame, class, score, box)], truths = {frame: [(class, box)]}. A detection is a true
    positive when it overlaps an unmatched same-class truth of its frame with IoU >= thr
    (greedy by score; VOC rule: the best-overlapping truth, a second hit on it is a false
    positive). Classes without truths get None."""
    aps = []
    for c in range(classes):
        gts = {f: [b for (k, b) in ts if k == c] for f, ts in truths.items()}
        npos = sum(len(v) for v in gts.values())
        if npos == 0:
            aps.append(None)
            continue
        used = {f: [False] * len(v) for f, v in gts.items()}
        ds = sorted([d for d in dets if d[1] == c], key=lambda d: -d[2])
        tp = []
        for f, _, _, box in ds:
            best, bi = -1.0, -1
            for i, g in enumerate(gts.get(f, [])):
                o = iou(box, g)
                if o > best:
                    best, bi = o, i
            hit = bi >= 0 and best >= thr and not used[f][bi]
            if hit:
                used[f][bi] = True
            tp.append(1 if hit else 0)
        ap, hits, prev_r = 0.0, 0, 0.0
        prec, rec = [], []
        for i, t in enumerate(tp):
            hits += t
            prec.append(hits / (i + 1))
            rec.append(hits / npos)
        # Precision envelope, then area under the step curve.
        for i in range(len(prec) - 2, -1, -1):
            prec[i] = max(prec[i], prec[i + 1])
        for p, r in zip(prec, rec):
            ap += p * (r - prev_r)
            prev_r = r
        aps.append(ap)
    return aps
