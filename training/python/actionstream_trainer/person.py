"""`person-fit`: a small person detector for the RoI detection mode, trained on key frames
of the synthetic multi-actor videos (every actor is a "person") and exported in the
YOLOX format (docs/MODEL_CONTRACT.md "Person detectors"), so serving reads it exactly as
it reads a YOLOX export:

- input "images" [N, 3, S, S]: BGR, 0-255, unnormalised (YOLOX's preproc; the Go side
  letterboxes other sizes to S);
- output "output" [N, boxes, 4+1+1]: the decode head in the graph, as YOLOX's
  decode_outputs: (cx, cy) = (raw + grid cell) * stride, (w, h) = exp(raw) * stride, in
  input pixels, then sigmoid objectness and sigmoid class score.

The network: a plain stride-2 conv stack (conv, BN, SiLU) to stride 32, a top-down path
adding each coarser level into the finer one, and YOLOX-style decoupled heads on strides
8 and 16 (--strides: e.g. 4,8 for small images, such as a 64-pixel crop's key frame). Targets: an anchor point (cell centre) inside a box and within
1.5 cells of its centre is a positive of that box (the smallest box when several claim
it): objectness BCE over all anchors, class BCE and 1-GIoU (x5, YOLOX's weight) at the
positives, each normalised by the number of positives.

Data (written by the Go package training/person): DIR/person-index.json {"size": S,
"images": [{"split", "boxes": [[x1,y1,x2,y2], ...] fractions}, ...]} and
DIR/person-images.u8, the images as raw RGB bytes [N][S][S][3].
"""
import json
import math
import os
import time

STRIDES = (8, 16)


def load(data_dir, splits):
    import numpy as np
    with open(os.path.join(data_dir, "person-index.json"), encoding="utf-8") as f:
        index = json.load(f)
    s = int(index["size"])
    raw = np.fromfile(os.path.join(data_dir, "person-images.u8"), dtype=np.uint8)
    n = len(index["images"])
    if raw.size != n * s * s * 3:
        raise ValueError(f"person-images.u8 has {raw.size} bytes, {n} images of {s}x{s} need {n * s * s * 3}")
    imgs = raw.reshape(n, s, s, 3)
    keep = [i for i, im in enumerate(index["images"]) if im["split"] in splits]
    boxes = [np.array(index["images"][i]["boxes"], dtype=np.float32).reshape(-1, 4) * s for i in keep]
    return s, imgs[keep], boxes


def level(stride):
    """The conv stack's level (stage index 1..5) of a head stride (4, 8, 16 or 32)."""
    k = int(round(math.log2(stride)))
    if 2 ** k != stride or not 2 <= k <= 5:
        raise ValueError(f"head stride {stride}: want 4, 8, 16 or 32")
    return k


def build(torch, width=16, classes=1, strides=STRIDES):
    nn = torch.nn
    levels = [level(s) for s in strides]
    if levels != sorted(set(levels)):
        raise ValueError(f"head strides {strides}: want distinct strides, finest first")

    def conv(cin, cout, k=3, s=1):
        return nn.Sequential(nn.Conv2d(cin, cout, k, s, k // 2, bias=False), nn.BatchNorm2d(cout), nn.SiLU())

    class Head(nn.Module):
        def __init__(self, cin, hidden):
            super().__init__()
            self.stem = conv(cin, hidden, 1)
            self.cls = nn.Sequential(conv(hidden, hidden), nn.Conv2d(hidden, classes, 1))
            self.reg_feat = conv(hidden, hidden)
            self.reg = nn.Conv2d(hidden, 4, 1)
            self.obj = nn.Conv2d(hidden, 1, 1)
            prior = -math.log((1 - 0.01) / 0.01)  # YOLOX's initial 1% objectness/class prior
            nn.init.constant_(self.obj.bias, prior)
            nn.init.constant_(self.cls[1].bias, prior)

        def forward(self, x):
            x = self.stem(x)
            r = self.reg_feat(x)
            return torch.cat([self.reg(r), self.obj(r), self.cls(x)], 1)

    class PersonNet(nn.Module):
        def __init__(self):
            super().__init__()
            w = width
            self.chans = {1: w, 2: 2 * w, 3: 3 * w, 4: 4 * w, 5: 4 * w}
            self.s1 = conv(3, w, 3, 2)                                   # /2
            self.s2 = nn.Sequential(conv(w, 2 * w, 3, 2), conv(2 * w, 2 * w))      # /4
            self.s3 = nn.Sequential(conv(2 * w, 3 * w, 3, 2), conv(3 * w, 3 * w))  # /8
            self.s4 = nn.Sequential(conv(3 * w, 4 * w, 3, 2), conv(4 * w, 4 * w))  # /16
            self.s5 = nn.Sequential(conv(4 * w, 4 * w, 3, 2), conv(4 * w, 4 * w))  # /32: context
            # Top-down (FPN-like): each level from res4 down to the finest head's adds the
            # coarser level's features, upsampled, so a head sees a whole large shape (is it
            # a backdrop disc or an actor?).
            self.levels = levels
            for k in range(4, levels[0] - 1, -1):
                setattr(self, f"lat{k}", conv(self.chans[k + 1], self.chans[k], 1))
            self.heads = nn.ModuleList([Head(self.chans[k], 2 * w) for k in levels])

        def forward(self, x):
            """Raw per-level maps [N, 4+1+C, h, w], one per head stride (finest first)."""
            F = torch.nn.functional
            p = {1: self.s1(x)}
            for k in range(2, 6):
                p[k] = getattr(self, f"s{k}")(p[k - 1])
            for k in range(4, self.levels[0] - 1, -1):
                p[k] = p[k] + getattr(self, f"lat{k}")(F.interpolate(p[k + 1], size=p[k].shape[-2:], mode="nearest"))
            return [head(p[k]) for head, k in zip(self.heads, self.levels)]

    return PersonNet()


def grids(torch, size, head_strides=STRIDES):
    """Per anchor: its grid cell (x, y) and stride, levels concatenated, rows row-major
    (YOLOX's flatten order)."""
    cells, strides = [], []
    for s in head_strides:
        g = size // s
        yv, xv = torch.meshgrid(torch.arange(g), torch.arange(g), indexing="ij")
        cells.append(torch.stack((xv, yv), 2).reshape(-1, 2))
        strides.append(torch.full((g * g, 1), float(s)))
    return torch.cat(cells).float(), torch.cat(strides)


def flatten(torch, maps):
    """[N, A, 4+1+C] raw, YOLOX's order: each level flattened, concatenated, permuted."""
    return torch.cat([m.flatten(start_dim=2) for m in maps], dim=2).permute(0, 2, 1)


class Decoded:
    """The export wrapper: YOLOX's inference head (sigmoid obj/cls, then decode_outputs)."""

    @staticmethod
    def wrap(torch, model, size, strides=STRIDES):
        cell, stride = grids(torch, size, strides)

        class Export(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.model = model
                self.register_buffer("cell", cell[None])
                self.register_buffer("stride", stride[None])

            def forward(self, images):
                out = flatten(torch, self.model(images))
                return torch.cat([
                    (out[..., 0:2] + self.cell) * self.stride,
                    torch.exp(out[..., 2:4]) * self.stride,
                    out[..., 4:].sigmoid(),
                ], dim=-1)

        return Export()


def to_input(torch, batch_rgb):
    """uint8 RGB [N, S, S, 3] -> YOLOX's input: BGR float 0-255, [N, 3, S, S]."""
    return torch.from_numpy(batch_rgb[..., ::-1].copy()).permute(0, 3, 1, 2).float()


def assign(torch, gt, centres, stride, radius=1.5):
    """Positives: anchors whose centre is inside a box and within radius cells of its
    centre; ties go to the smallest box. Returns (anchor indices, their box indices)."""
    if gt.shape[0] == 0:
        return torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long)
    cx, cy = centres[:, 0:1], centres[:, 1:2]  # [A, 1]
    inside = (cx > gt[:, 0]) & (cx < gt[:, 2]) & (cy > gt[:, 1]) & (cy < gt[:, 3])
    gcx, gcy = (gt[:, 0] + gt[:, 2]) / 2, (gt[:, 1] + gt[:, 3]) / 2
    near = ((cx - gcx).abs() < radius * stride) & ((cy - gcy).abs() < radius * stride)
    ok = inside & near  # [A, M]
    area = (gt[:, 2] - gt[:, 0]) * (gt[:, 3] - gt[:, 1])
    cost = torch.where(ok, area.expand_as(ok), torch.full_like(ok, float("inf"), dtype=torch.float32))
    best, which = cost.min(1)
    pos = torch.nonzero(torch.isfinite(best)).flatten()
    return pos, which[pos]


def giou(a, b):
    """Generalised IoU of matching rows of two [K, 4] xyxy boxes."""
    import torch
    ix1, iy1 = torch.max(a[:, 0], b[:, 0]), torch.max(a[:, 1], b[:, 1])
    ix2, iy2 = torch.min(a[:, 2], b[:, 2]), torch.min(a[:, 3], b[:, 3])
    inter = (ix2 - ix1).clamp(min=0) * (iy2 - iy1).clamp(min=0)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a + area_b - inter + 1e-7
    iou = inter / union
    cx1, cy1 = torch.min(a[:, 0], b[:, 0]), torch.min(a[:, 1], b[:, 1])
    cx2, cy2 = torch.max(a[:, 2], b[:, 2]), torch.max(a[:, 3], b[:, 3])
    hull = (cx2 - cx1) * (cy2 - cy1) + 1e-7
    return iou - (hull - union) / hull


def loss(torch, raw, targets, cell, stride):
    """raw [N, A, 6] (undecoded), targets: per image [M, 4] xyxy pixels."""
    F = torch.nn.functional
    centres = (cell + 0.5) * stride
    obj_t = torch.zeros(raw.shape[:2])
    box_l, cls_l, fg = [], [], 0
    for i, gt in enumerate(targets):
        pos, which = assign(torch, gt, centres, stride)
        if pos.numel() == 0:
            continue
        fg += pos.numel()
        obj_t[i, pos] = 1.0
        r = raw[i, pos]
        xy = (r[:, 0:2] + cell[pos]) * stride[pos]
        wh = torch.exp(r[:, 2:4].clamp(max=8)) * stride[pos]
        pred = torch.cat([xy - wh / 2, xy + wh / 2], 1)
        box_l.append((1 - giou(pred, gt[which])).sum())
        cls_l.append(F.binary_cross_entropy_with_logits(r[:, 5:], torch.ones_like(r[:, 5:]), reduction="sum"))
    fg = max(fg, 1)
    l_obj = F.binary_cross_entropy_with_logits(raw[..., 4], obj_t, reduction="sum") / fg
    l_box = sum(box_l) / fg if box_l else raw.sum() * 0
    l_cls = sum(cls_l) / fg if cls_l else raw.sum() * 0
    return 5.0 * l_box + l_obj + l_cls, (float(l_box), float(l_obj), float(l_cls))


def augment(np, rng, imgs, boxes, size):
    """Horizontal flip (boxes mirrored) and a per-image brightness/contrast jitter."""
    imgs = imgs.copy()
    boxes = [b.copy() for b in boxes]
    for i in range(len(imgs)):
        if rng.random() < 0.5:
            imgs[i] = imgs[i, :, ::-1]
            b = boxes[i]
            b[:, [0, 2]] = size - b[:, [2, 0]]
        gain, bias = rng.uniform(0.8, 1.2), rng.uniform(-20, 20)
        imgs[i] = np.clip(imgs[i].astype(np.float32) * gain + bias, 0, 255).astype(np.uint8)
    return imgs, boxes


def fit(args, ch):
    import numpy as np
    import torch
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    splits = args.splits.split(",")
    size, imgs, boxes = load(args.data, splits)
    if len(imgs) == 0:
        raise ValueError(f"{args.data}: no images of the splits {splits}")
    strides = tuple(int(v) for v in args.strides.split(","))
    model = build(torch, width=args.width, strides=strides)
    if size % max(strides):
        raise ValueError(f"image size {size} is not a multiple of {max(strides)}")
    cell, stride = grids(torch, size, strides)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=5e-4)
    steps_per_epoch = math.ceil(len(imgs) / args.batch)
    total = args.epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=total, pct_start=0.1)
    step, t0, history = 0, time.time(), []
    for epoch in range(args.epochs):
        model.train()
        order = rng.permutation(len(imgs))
        run = [0.0, 0.0, 0.0, 0.0]
        for b in range(steps_per_epoch):
            idx = order[b * args.batch:(b + 1) * args.batch]
            x, bx = augment(np, rng, imgs[idx], [boxes[i] for i in idx], size)
            raw = flatten(torch, model(to_input(torch, x)))
            total_l, parts = loss(torch, raw, [torch.from_numpy(v) for v in bx], cell, stride)
            opt.zero_grad()
            total_l.backward()
            opt.step()
            sched.step()
            step += 1
            run = [run[0] + float(total_l), run[1] + parts[0], run[2] + parts[1], run[3] + parts[2]]
        n = steps_per_epoch
        history.append({"epoch": epoch + 1, "loss": run[0] / n, "giou_loss": run[1] / n, "obj_loss": run[2] / n, "cls_loss": run[3] / n})
        ch.progress("fit", step=epoch + 1, total=args.epochs, loss=run[0] / n, elapsed=time.time() - t0)
    model.eval()
    export(torch, model, size, args.out, strides)
    params = sum(p.numel() for p in model.parameters())
    ch.result(path=args.out, bytes=os.path.getsize(args.out), params=params, size=size,
              train_images=len(imgs), seconds=time.time() - t0, history=history)


def export(torch, model, size, out, strides=STRIDES):
    wrapped = Decoded.wrap(torch, model, size, strides).eval()
    dummy = torch.zeros(1, 3, size, size)
    torch.onnx.export(wrapped, dummy, out, input_names=["images"], output_names=["output"],
                      dynamic_axes={"images": {0: "batch"}, "output": {0: "batch"}}, opset_version=13)
    # The exporter leaves the boxes and features axes symbolic; they are fixed by the size.
    import onnx
    m = onnx.load(out)
    anchors = sum((size // s) ** 2 for s in strides)
    dims = m.graph.output[0].type.tensor_type.shape.dim
    feats = 5 + wrapped.model.heads[0].cls[1].out_channels
    for d, v in ((dims[1], anchors), (dims[2], feats)):
        d.Clear()
        d.dim_value = v
    onnx.checker.check_model(m)
    onnx.save(m, out)


def add_parser(sub):
    f = sub.add_parser("person-fit", help="train a small person detector, export it as YOLOX")
    f.add_argument("--data", required=True, help="directory with person-index.json and person-images.u8")
    f.add_argument("--out", required=True, help="the ONNX file to write")
    f.add_argument("--epochs", type=int, default=40)
    f.add_argument("--batch", type=int, default=32)
    f.add_argument("--lr", type=float, default=0.01)
    f.add_argument("--width", type=int, default=16)
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--strides", default=",".join(str(s) for s in STRIDES),
                   help="the heads' strides, finest first (4, 8, 16 or 32)")
    f.add_argument("--splits", default="train,val", help="the splits that train")
    f.set_defaults(func=fit)
