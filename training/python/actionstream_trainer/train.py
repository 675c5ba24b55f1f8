"""The training loop behind `actionstream train fit`: SGD with momentum, a cosine
learning rate after a linear warm-up, weight decay on conv/linear weights only (none
on BatchNorm or biases), the spec's dropout, optional short-side jitter + random crop
and horizontal flip, resumable checkpoints, and JSON progress lines for Go to render.
"""
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

from . import data, net

CHECKPOINT = "checkpoint.pt"  # weights + optimizer state + history: what --resume reads
WEIGHTS = "weights.pt"         # the final weights alone (what export reads; a third the size)


def lr_at(step, total, warmup, base, final_frac=0.0):
    """Linear warm-up from base/warmup to base over `warmup` steps, then a half cosine
    down to base*final_frac at `total`."""
    if warmup > 0 and step < warmup:
        return base * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    t = min(max(t, 0.0), 1.0)
    lo = base * final_frac
    return lo + (base - lo) * 0.5 * (1.0 + math.cos(math.pi * t))


def param_groups(model, weight_decay):
    """Weight decay on conv and linear weights; none on BN γ/β or any bias."""
    decay, no_decay = [], []
    for mod in model.modules():
        for name, p in mod.named_parameters(recurse=False):
            if not p.requires_grad:
                continue
            if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm) or name == "bias":
                no_decay.append(p)
            else:
                decay.append(p)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def label_map(pairs, labels):
    """A label permutation from "a:b,c:d" (each pair swapped, others unchanged)."""
    perm = list(range(len(labels)))
    if not pairs:
        return perm
    for item in pairs.split(","):
        item = item.strip()
        if not item:
            continue
        a, sep, b = item.partition(":")
        if not sep or a not in labels or b not in labels:
            raise ValueError(f"label pair {item!r}: want a:b with both labels in {labels}")
        i, j = labels.index(a), labels.index(b)
        perm[i], perm[j] = j, i
    return perm


class Augment:
    """Train-time view of a stored clip: short-side jitter (a random square of side
    c = S*R/j for a short side j drawn from [jmin, jmax], resized to S), random
    position, then optional horizontal flip, vertical flip and time reversal, each on
    half the clips and each with a label map (a flipped "move_left" clip is a
    "move_right" one; a reversed "grow" clip is a "shrink" one). Off (jmin == 0, no
    flips) = the serving centre crop."""

    def __init__(self, size, store, offset, jitter, flip, gen, vflip=False, reverse=False, maps=None):
        self.size, self.store, self.offset = size, store, offset
        self.jitter = jitter  # (jmin, jmax, R) or None
        self.flip, self.vflip, self.reverse = flip, vflip, reverse
        self.maps = maps or {}
        self.gen = gen

    def _apply(self, x, y, kind, dim):
        n = x.shape[0]
        m = torch.rand(n, generator=self.gen) < 0.5
        if not m.any():
            return x, y
        idx = m.nonzero().flatten().to(x.device)
        x = x.clone()
        x[idx] = x[idx].flip(dim)
        perm = self.maps.get(kind)
        if perm is not None:
            p = torch.as_tensor(perm, device=y.device)
            y = y.clone()
            y[idx.to(y.device)] = p[y[idx.to(y.device)]]
        return x, y

    def labelled(self, x, y):
        """The augmented batch and its (possibly remapped) labels."""
        x = self(x)
        if self.vflip:
            x, y = self._apply(x, y, "vflip", -2)
        if self.reverse:
            x, y = self._apply(x, y, "reverse", 2)
        return x.contiguous(), y

    def __call__(self, x):
        n = x.shape[0]
        s = self.size
        if self.jitter is None:
            x = data.centre(x, self.offset, s)
        else:
            jmin, jmax, resize = self.jitter
            outs = []
            for i in range(n):
                j = jmin + (jmax - jmin) * float(torch.rand(1, generator=self.gen))
                c = int(round(s * resize / j))
                c = min(max(c, 1), self.store)
                y0 = int(torch.randint(0, self.store - c + 1, (1,), generator=self.gen))
                x0 = int(torch.randint(0, self.store - c + 1, (1,), generator=self.gen))
                v = x[i, :, :, y0:y0 + c, x0:x0 + c]
                if c != s:
                    t = v.shape[1]
                    v = v.permute(1, 0, 2, 3)  # T,C,H,W: resize each frame
                    v = F.interpolate(v, size=(s, s), mode="bilinear", align_corners=False)
                    v = v.permute(1, 0, 2, 3).reshape(3, t, s, s)
                outs.append(v)
            x = torch.stack(outs)
        return x.contiguous()


def pick_frame(x, which, gen=None):
    """One frame of each clip [N,3,T,H,W] -> [N,3,1,H,W]: frame which-1, or (which < 0)
    a random frame per clip when gen is given, else the middle one."""
    t = x.shape[2]
    if which > 0:
        return x[:, :, which - 1:which]
    if gen is None:
        return x[:, :, t // 2:t // 2 + 1]
    k = torch.randint(0, t, (x.shape[0],), generator=gen).to(x.device)
    return x[torch.arange(x.shape[0], device=x.device), :, k].unsqueeze(2)


def evaluate(model, split, lut, ds, device, batch, ncls, single_frame=0):
    """Loss, top-1, top-5 and a confusion matrix on the centre crop (serving view)."""
    model.eval()
    n = len(split)
    loss_sum, top1, top5 = 0.0, 0, 0
    conf = np.zeros((ncls, ncls), dtype=np.int64)
    with torch.no_grad():
        for i in range(0, n, batch):
            u8 = torch.from_numpy(np.array(split.clips[i:i + batch])).to(device)
            x = data.centre(data.to_float(u8, lut), ds.crop_offset, ds.size)
            if single_frame:
                x = pick_frame(x, single_frame)
            x = x.contiguous()
            y = torch.from_numpy(split.labels[i:i + batch]).to(device)
            logits = model(x)
            loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
            k = min(5, ncls)
            top = logits.topk(k, dim=1).indices
            top1 += int((top[:, 0] == y).sum())
            top5 += int((top == y[:, None]).any(dim=1).sum())
            for a, b in zip(y.tolist(), top[:, 0].tolist()):
                conf[a, b] += 1
    model.train()
    if n == 0:
        return {"loss": None, "top1": None, "top5": None, "confusion": conf.tolist()}
    return {"loss": loss_sum / n, "top1": top1 / n, "top5": top5 / n, "confusion": conf.tolist()}


def schedule(args, n_train):
    """Optimizer steps per epoch, in all, and of warm-up, for n_train training samples."""
    steps_per_epoch = max(1, n_train // args.batch) if args.drop_last else \
        max(1, math.ceil(n_train / args.batch))
    return steps_per_epoch, steps_per_epoch * args.epochs, int(round(args.warmup_epochs * steps_per_epoch))


def resume(args, spec, model, opt, device, ch):
    """The run's checkpoint path, and with --resume the history and epoch it holds (model and
    optimizer restored in place); a checkpoint of another architecture is refused."""
    os.makedirs(args.out, exist_ok=True)
    ckpt_path = os.path.join(args.out, CHECKPOINT)
    if not (args.resume and os.path.exists(ckpt_path)):
        return ckpt_path, [], 0
    ck = torch.load(ckpt_path, map_location=device)
    if ck.get("arch") != spec:
        raise ValueError(f"{ckpt_path}: checkpoint is for another architecture")
    model.load_state_dict(ck["model_state"])
    opt.load_state_dict(ck["optimizer"])
    start_epoch = int(ck["epoch"])
    ch.progress("resume", epoch=start_epoch, epochs=args.epochs)
    return ckpt_path, ck.get("history", []), start_epoch


def _save(path, state):
    tmp = path + ".tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)


TASK_MODES = {"detection": "single_stage", "roi": "roi"}


def fit(args, spec, ch):
    if args.task != "classification":
        from . import detfit
        args.task_mode = TASK_MODES[args.task]
        return detfit.fit(args, spec, ch)
    if spec.get("detection"):
        raise ValueError("the spec has a detection head: use --task detection or roi")
    torch.manual_seed(args.seed)
    np.random.seed(args.seed % (2**32))
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda: torch sees no CUDA device")
    ds = data.Dataset(args.data)
    if len(ds.labels) != spec["num_classes"]:
        raise ValueError(f"dataset has {len(ds.labels)} labels, the spec {spec['num_classes']} classes")
    frames = 1 if args.single_frame else ds.frames
    if args.single_frame > ds.frames:
        raise ValueError(f"--single-frame {args.single_frame}: clips have {ds.frames} frames")
    if frames != spec["frames"] or ds.size != spec["crop_size"]:
        raise ValueError(f"dataset clips are T={ds.frames} S={ds.size}, the spec wants "
                         f"T={spec['frames']} S={spec['crop_size']}")
    train = ds.split(args.train_split)
    val = ds.splits.get(args.val_split) if args.val_split else None
    if args.limit > 0:  # smoke runs: the first N clips of each split
        train = data.Split(train.name, train.clips[:args.limit], train.labels[:args.limit], train.items[:args.limit])
        if val is not None:
            val = data.Split(val.name, val.clips[:args.limit], val.labels[:args.limit], val.items[:args.limit])
    if len(train) == 0:
        raise ValueError("empty training split")
    ncls = len(ds.labels)

    model = net.build(spec).to(device)
    opt = torch.optim.SGD(param_groups(model, args.weight_decay), lr=args.lr,
                          momentum=args.momentum, nesterov=False)
    steps_per_epoch, total, warmup = schedule(args, len(train))
    ckpt_path, history, start_epoch = resume(args, spec, model, opt, device, ch)

    lut = torch.from_numpy(ds.lut).to(device)
    gen = torch.Generator()
    jitter = None
    if args.jitter_min > 0:
        jitter = (float(args.jitter_min), float(args.jitter_max), float(ds.index["resize_short_side"]))
    maps = {"flip": label_map(args.flip_pairs, ds.labels), "vflip": label_map(args.vflip_pairs, ds.labels),
            "reverse": label_map(args.reverse_pairs, ds.labels)}
    aug = Augment(ds.size, ds.store_size, ds.crop_offset, jitter, args.flip, gen,
                  vflip=args.vflip, reverse=args.reverse, maps=maps)

    # Small datasets live on the device (GPU); otherwise read through the memmap.
    resident = None
    if device.type == "cuda":
        resident = torch.from_numpy(np.array(train.clips)).to(device)
    labels_all = torch.from_numpy(train.labels)

    model.train()
    t_start = time.time()
    clips_done, last_sent = 0, 0.0
    for epoch in range(start_epoch, args.epochs):
        gen.manual_seed(args.seed * 1000003 + epoch)
        perm = torch.randperm(len(train), generator=gen)
        ep_loss, ep_correct, ep_n = 0.0, 0, 0
        ep_t0 = time.time()
        for b in range(steps_per_epoch):
            step = epoch * steps_per_epoch + b
            lr = lr_at(step, total, warmup, args.lr, args.final_lr_frac)
            for g in opt.param_groups:
                g["lr"] = lr
            idx = perm[b * args.batch:(b + 1) * args.batch]
            if len(idx) == 0:
                continue
            if resident is not None:
                u8 = resident[idx.to(device)]
            else:
                order = np.sort(idx.numpy())  # sequential reads from the memmap
                idx = torch.from_numpy(order)
                u8 = torch.from_numpy(np.array(train.clips[order])).to(device)
            y = labels_all[idx].to(device)
            x = data.to_float(u8, lut)
            if args.single_frame:
                x = pick_frame(x, args.single_frame, gen)
            x, y = aug.labelled(x, y)
            if aug.flip:
                x, y = aug._apply(x, y, "flip", -1)
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            n = len(idx)
            ep_loss += float(loss.detach()) * n
            ep_correct += int((logits.argmax(1) == y).sum())
            ep_n += n
            clips_done += n
            now = time.time()
            if now - last_sent >= args.progress_every or b == steps_per_epoch - 1:
                last_sent = now
                el = now - t_start
                ch.progress("train", step=step + 1, total=total, epoch=epoch + 1, epochs=args.epochs,
                            loss=ep_loss / ep_n, acc=ep_correct / ep_n, lr=lr,
                            clips_per_s=clips_done / el if el > 0 else 0.0, elapsed_s=el)
        ep_time = time.time() - ep_t0
        rec = {"epoch": epoch + 1, "lr": lr, "train_loss": ep_loss / max(1, ep_n),
               "train_acc": ep_correct / max(1, ep_n), "clips_per_s": ep_n / ep_time if ep_time > 0 else 0.0,
               "seconds": ep_time}
        last = epoch + 1 == args.epochs
        if val is not None and len(val) and (last or (args.val_every > 0 and (epoch + 1) % args.val_every == 0)):
            ev = evaluate(model, val, lut, ds, device, args.eval_batch, ncls, args.single_frame)
            rec.update(val_loss=ev["loss"], val_top1=ev["top1"], val_top5=ev["top5"])
            if last:
                rec["val_confusion"] = ev["confusion"]
        history.append(rec)
        ch.progress("epoch", step=epoch + 1, total=args.epochs,
                    **{k: v for k, v in rec.items() if k != "val_confusion"})
        _save(ckpt_path, {"arch": spec, "model_state": model.state_dict(), "optimizer": opt.state_dict(),
                          "epoch": epoch + 1, "history": history, "labels": ds.labels})
    total_time = time.time() - t_start
    final = history[-1] if history else {}
    weights = os.path.join(args.out, WEIGHTS)
    _save(weights, {"arch": spec, "model_state": {k: v.cpu() for k, v in model.state_dict().items()},
                    "labels": ds.labels})
    ch.result(checkpoint=os.path.abspath(ckpt_path), weights=os.path.abspath(weights), epochs=args.epochs, steps=total,
              history=history, final=final, device=str(device),
              train_clips=len(train), val_clips=len(val) if val is not None else 0,
              seconds=total_time, clips_per_s=clips_done / total_time if total_time > 0 else 0.0,
              torch=torch.__version__, threads=torch.get_num_threads())


def add_parser(sub, func):
    f = sub.add_parser("fit")
    f.add_argument("--spec", required=True)
    f.add_argument("--data", required=True)
    f.add_argument("--out", required=True)
    f.add_argument("--train-split", default="train")
    f.add_argument("--val-split", default="val")
    f.add_argument("--epochs", type=int, default=10)
    f.add_argument("--batch", type=int, default=16)
    f.add_argument("--eval-batch", type=int, default=32)
    f.add_argument("--lr", type=float, default=0.05)
    f.add_argument("--final-lr-frac", type=float, default=0.0)
    f.add_argument("--momentum", type=float, default=0.9)
    f.add_argument("--weight-decay", type=float, default=5e-5)
    f.add_argument("--warmup-epochs", type=float, default=1.0)
    f.add_argument("--jitter-min", type=float, default=0.0)
    f.add_argument("--jitter-max", type=float, default=0.0)
    f.add_argument("--flip", action="store_true")
    f.add_argument("--flip-pairs", default="", help="labels a horizontal flip swaps: a:b,c:d")
    f.add_argument("--vflip", action="store_true")
    f.add_argument("--vflip-pairs", default="", help="labels a vertical flip swaps")
    f.add_argument("--reverse", action="store_true", help="time-reverse half the clips")
    f.add_argument("--reverse-pairs", default="", help="labels time reversal swaps")
    f.add_argument("--single-frame", type=int, default=0,
                   help="train a 1-frame network on frame K (1-based) of each clip; -1 = a random frame")
    f.add_argument("--drop-last", action="store_true")
    f.add_argument("--device", default="cpu")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--resume", action="store_true")
    f.add_argument("--val-every", type=int, default=1)
    f.add_argument("--progress-every", type=float, default=0.5)
    f.add_argument("--limit", type=int, default=0, help="use only the first N clips of each split (smoke tests)")
    f.add_argument("--task", choices=["classification"] + sorted(TASK_MODES), default="classification")
    f.add_argument("--init", help="detection: start the backbone and neck from this run's weights")
    f.add_argument("--freeze-backbone", action="store_true",
                   help="detection: train only the neck and head on the --init backbone's features")
    f.add_argument("--feature-cache", help="--freeze-backbone: keep/reuse the backbone features in this directory")
    f.add_argument("--roi-jitter", type=float, default=0.1, help="roi: true boxes shifted/scaled by up to this fraction")
    f.add_argument("--roi-negatives", type=int, default=0,
                   help="roi: background boxes per clip (IoU < 0.3 with every actor) trained to score no class")
    f.set_defaults(func=func)
    return f
