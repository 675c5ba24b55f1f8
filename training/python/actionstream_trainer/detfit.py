"""`train fit --task detection|roi`: the detection heads (detect.py) trained on a detection
dataset (each clip's key-frame actors in its item, `train prepare --boxes`), with the
classification loop's schedule, optimizer, checkpoints and progress lines (train.py).

single_stage: CenterNet targets and losses (detect.encode, detect.centre_losses).
roi: the true key-frame boxes, each jittered (centre shift and scale up to --roi-jitter of
  its size), one BCE-trained multi-hot row per box; --roi-negatives K adds K background
  boxes per clip (negative_rois) with all-zero rows.
Validation: frame-level AP@0.5 per class on the val split's key frames (the contract's
decoding for single_stage; the true boxes for roi), reported as val_map.
"""
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

from . import data, detect, net
from .train import WEIGHTS, _save, label_map, lr_at, param_groups, resume, schedule

GRAD_CLIP = 10.0


def clip_actors(item):
    """[(label, (x1,y1,x2,y2))] of a dataset item; a classification dataset has none."""
    if "actors" not in item:
        raise ValueError("the dataset has no key-frame boxes: prepare it with --boxes (train prepare)")
    return [(int(a["label"]), tuple(float(v) for v in a["box"])) for a in item.get("actors") or []]


def flip_actors(actors, perm, horizontal):
    out = []
    for label, (x1, y1, x2, y2) in actors:
        box = (1 - x2, y1, 1 - x1, y2) if horizontal else (x1, 1 - y2, x2, 1 - y1)
        out.append((perm[label], box))
    return out


def batch_targets(batch_actors, grid, classes):
    parts = [detect.encode(a, grid, classes) for a in batch_actors]
    return tuple(torch.stack([p[i] for p in parts]) for i in range(5))


def jitter_rois(batch_actors, gen, amount):
    """rois [K,5] and multi-hot targets [K,C]-ready labels from the true boxes, each box
    shifted and scaled by up to `amount` of its size."""
    rois, labels = [], []
    for b, actors in enumerate(batch_actors):
        for label, (x1, y1, x2, y2) in actors:
            w, h = x2 - x1, y2 - y1
            if amount > 0:
                r = (torch.rand(4, generator=gen) * 2 - 1) * amount
                cx, cy = (x1 + x2) / 2 + float(r[0]) * w, (y1 + y2) / 2 + float(r[1]) * h
                w, h = w * (1 + float(r[2])), h * (1 + float(r[3]))
                x1, x2, y1, y2 = cx - w / 2, cx + w / 2, cy - h / 2, cy + h / 2
            rois.append([float(b), x1, y1, x2, y2])
            labels.append(label)
    return torch.tensor(rois, dtype=torch.float32).reshape(-1, 5), labels


def negative_rois(batch_actors, gen, per_clip, max_iou=0.3, tries=20):
    """Up to per_clip background boxes per clip, rows [b, x1, y1, x2, y2] like jitter_rois:
    each the size of one of the clip's actors (scaled 0.7-1.4 per side), placed at random
    inside the crop, kept if its IoU with every true box is below max_iou. A box a person
    detector puts on the backdrop (a still disc, a texture) looks like these; trained to
    score no class, the head gives such boxes low scores."""
    rows = []
    for b, actors in enumerate(batch_actors):
        if not actors or per_clip <= 0:
            continue
        boxes = [box for _, box in actors]
        got = 0
        for _ in range(tries * per_clip):
            if got == per_clip:
                break
            r = torch.rand(5, generator=gen)
            x1, y1, x2, y2 = boxes[min(int(r[0] * len(boxes)), len(boxes) - 1)]
            w = min((x2 - x1) * (0.7 + 0.7 * float(r[1])), 1.0)
            h = min((y2 - y1) * (0.7 + 0.7 * float(r[2])), 1.0)
            nx, ny = float(r[3]) * (1 - w), float(r[4]) * (1 - h)
            cand = [nx, ny, nx + w, ny + h]
            if max(detect.iou(cand, list(t)) for t in boxes) < max_iou:
                rows.append([float(b)] + cand)
                got += 1
    return torch.tensor(rows, dtype=torch.float32).reshape(-1, 5)


def multi_hot(labels, classes, negatives=0):
    """[K+negatives, C]: one row per label, then all-zero rows for the negatives."""
    y = torch.zeros(len(labels) + negatives, classes)
    for i, l in enumerate(labels):
        y[i, l] = 1.0
    return y


def evaluate(model, split, lut, ds, device, batch, ncls, grid, stride, cache=None):
    """Val loss, action accuracy at centres (top1) and frame-mAP@0.5 on key frames.
    cache: the split's backbone features (FeatureCache), else the clips run in full."""
    model.eval()
    dets, truths = [], {}
    loss_sum, correct, actors_n = 0.0, 0, 0
    n = len(split)
    with torch.no_grad():
        for i in range(0, n, batch):
            if cache is not None:
                x = cache.batch(torch.arange(i, min(i + batch, n)), torch.zeros(min(i + batch, n) - i, dtype=torch.long))
            else:
                u8 = torch.from_numpy(np.array(split.clips[i:i + batch])).to(device)
                x = data.centre(data.to_float(u8, lut), ds.crop_offset, ds.size).contiguous()
            acts = [clip_actors(split.items[j]) for j in range(i, min(i + batch, n))]
            for k, a in enumerate(acts):
                truths[i + k] = [(label, list(box)) for label, box in a]
            if model.mode == "roi":
                rois, labels = jitter_rois(acts, None, 0.0)
                if len(labels) == 0:
                    continue
                logits = model_forward(model, x, rois.to(device))
                loss_sum += float(F.binary_cross_entropy_with_logits(
                    logits, multi_hot(labels, ncls).to(device), reduction="sum")) / ncls
                prob = torch.sigmoid(logits).cpu()
                correct += int((prob.argmax(1) == torch.tensor(labels)).sum())
                actors_n += len(labels)
                for r in range(len(labels)):
                    f = i + int(rois[r, 0])
                    for c in range(ncls):
                        dets.append((f, c, float(prob[r, c]), rois[r, 1:].tolist()))
                continue
            out = model_forward(model, x)
            tg = batch_targets(acts, grid, ncls)
            tg = tuple(t.to(device) for t in tg)
            loss, _ = detect.centre_losses(out, tg)
            loss_sum += float(loss) * len(acts)
            heat, size, off, act = (torch.sigmoid(o).cpu() for o in out)
            mask = tg[4].cpu()
            lab = tg[3].cpu().argmax(1)
            pred = act.argmax(1)
            correct += int(((pred == lab).float() * mask).sum())
            actors_n += int(mask.sum())
            for k in range(len(acts)):
                for score, box, scores in detect.decode(heat[k], size[k], off[k], act[k], stride):
                    for c in range(ncls):
                        dets.append((i + k, c, score * scores[c], box))
    model.train()
    aps = detect.average_precision(dets, truths, ncls)
    have = [a for a in aps if a is not None]
    return {"loss": loss_sum / max(1, n), "top1": correct / max(1, actors_n),
            "map": sum(have) / len(have) if have else None, "ap": aps}


def model_forward(model, x, rois=None):
    """The full network on clips, or its neck and head on cached features (a tuple)."""
    if isinstance(x, tuple):
        y = model.neck(*x)
        return model.det_head(y, rois) if model.mode == "roi" else model.det_head(y)
    return model(x, rois) if model.mode == "roi" else model(x)


def _onnx_meta(g_model, key):
    for p in g_model.metadata_props:
        if p.key == key:
            return p.value
    return None


def load_onnx_init(model, path):
    """Conv weights from an exported model of the contract, matched by execution order (the
    ONNX graph's Conv nodes are in trace order; constant folding may rename their
    initializers) and checked by shape. The classification twin (models/demo.onnx) gives the
    backbone. A detection model of the network's own mode (models/demo-detection.onnx) gives
    the neck and the per-cell heads too, so it can be fine-tuned whole; an RoI head's linear
    layer is not a conv and starts fresh. Exported convs carry the folded BN, so each BN they
    cover becomes the identity plus the folded bias (running mean 0, variance 1-eps, gamma 1)
    and must keep these statistics in training (eval-mode BN): batch statistics would renormalise the
    features the init computes. Returns (tensors loaded, the modules whose BN came folded)."""
    import onnx
    from onnx import numpy_helper
    m_proto = onnx.load(path)
    g = m_proto.graph
    w = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    # The exporter shares equal initializers through Identity nodes.
    alias = {n.output[0]: n.input[0] for n in g.node if n.op_type == "Identity"}
    for out in list(alias):
        src = out
        while src in alias and src not in w:
            src = alias[src]
        if src in w:
            w[out] = w[src]
    nodes = [n for n in g.node if n.op_type == "Conv"]
    parts = [model.stem, model.stages]
    if (model.mode is not None and _onnx_meta(m_proto, "actionstream.task") == "detection"
            and _onnx_meta(m_proto, "actionstream.detection.mode") == model.mode):
        parts += [model.neck] + ([model.det_head] if model.mode == "single_stage" else [])
    mods = [m for part in parts for m in part.modules()]
    owner = {m.conv: m for m in mods if isinstance(m, net.ConvBN)}  # conv -> its ConvBN
    order = []
    hooks = [m.register_forward_hook(lambda mod, i, o: order.append(mod))
             for m in mods if isinstance(m, torch.nn.Conv3d)]
    was = model.training
    model.eval()
    with torch.no_grad():
        x = torch.zeros(model.input_shape(1))
        if model.mode == "roi":
            model(x, torch.tensor([[0.0, 0.25, 0.25, 0.75, 0.75]]))
        elif model.mode is not None:
            model(x)
        else:
            model.stages(model.stem(x))
    for h in hooks:
        h.remove()
    model.train(was)
    if len(nodes) < len(order):
        raise ValueError(f"--init {path}: {len(nodes)} convs, the network has {len(order)} to load")

    def tensor(node, k, want):
        if len(node.input) <= k or node.input[k] not in w:
            raise ValueError(f"--init {path}: conv {node.name} has no input {k}")
        v = torch.from_numpy(np.array(w[node.input[k]]))
        if tuple(v.shape) != tuple(want):
            raise ValueError(f"--init {path}: conv {node.name} is {tuple(v.shape)}, "
                             f"the network wants {tuple(want)} (another architecture?)")
        return v

    with torch.no_grad():
        for conv, node in zip(order, nodes):
            conv.weight.copy_(tensor(node, 1, conv.weight.shape))
            cb = owner.get(conv)
            if cb is not None and cb.bn is not None:
                bn = cb.bn
                bn.weight.fill_(1.0)
                bn.bias.copy_(tensor(node, 2, bn.bias.shape))
                bn.running_mean.zero_()
                bn.running_var.fill_(1.0 - bn.eps)
            elif conv.bias is not None:
                conv.bias.copy_(tensor(node, 2, conv.bias.shape))
            elif len(node.input) > 2:
                raise ValueError(f"--init {path}: conv {node.name} has a bias the network lacks")
    return len(order), parts


class FeatureCache:
    """The frozen backbone's time-averaged stage outputs (every stage, finest first) of
    every clip of a split, for each flip variant (0 none, 1 horizontal, 2 vertical): the
    neck and head then train on them without running the backbone again. batch() gives
    the last `levels` stages, the ones the neck reads, so one cache serves every stride."""

    VARIANTS = {"none": 0, "h": 1, "v": 2}

    def __init__(self, model, split, lut, ds, device, variants, batch, progress=None):
        self.variants = variants
        self.levels = len(model.neck.lat)
        n = len(split)
        levels = len(model.stages)
        per = [[] for _ in range(levels)]
        model.eval()
        with torch.no_grad():
            for i in range(0, n, batch):
                u8 = torch.from_numpy(np.array(split.clips[i:i + batch])).to(device)
                x = data.centre(data.to_float(u8, lut), ds.crop_offset, ds.size)
                vs = [[] for _ in range(levels)]
                for v in variants:
                    xv = x if v == "none" else x.flip(-1 if v == "h" else -2)
                    y = model.stem(xv.contiguous())
                    feats = []
                    for st in model.stages:
                        y = st(y)
                        feats.append(y)
                    for k, f in enumerate(feats[-levels:]):
                        vs[k].append(f.mean(dim=2, keepdim=True))
                for k in range(levels):
                    per[k].append(torch.stack(vs[k], 1))
                if progress:
                    progress(min(i + batch, n), n)
        self.feats = [torch.cat(p) for p in per]  # each [N, V, C, 1, H, W], finest first

    def batch(self, idx, variant):
        return tuple(f[idx, variant] for f in self.feats[-self.levels:])

    @classmethod
    def cached(cls, cache_dir, key, build, levels):
        """The cache stored under cache_dir for key (a dict naming the backbone, data, split
        and variants), else build() saved there: the RoI run reuses the single-stage run's,
        whatever the strides of their necks (levels: the stages the neck reads)."""
        if not cache_dir:
            return build()
        os.makedirs(cache_dir, exist_ok=True)
        path = os.path.join(cache_dir, f"{key['split']}-{'+'.join(key['variants'])}.pt")
        if os.path.exists(path):
            saved = torch.load(path)
            if saved.get("key") == key:
                c = cls.__new__(cls)
                c.variants, c.feats, c.levels = key["variants"], saved["feats"], levels
                return c
        c = build()
        _save(path, {"key": key, "feats": c.feats})
        return c


def fit(args, spec, ch):
    torch.manual_seed(args.seed)
    np.random.seed(args.seed % (2**32))
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda: torch sees no CUDA device")
    if args.jitter_min > 0 or args.reverse or args.single_frame:
        raise ValueError("detection training takes --flip/--vflip only (no jitter, reverse or single frame)")
    det = spec.get("detection")
    if not det or det.get("mode") != args.task_mode:
        raise ValueError(f"--task {args.task}: the spec has no {args.task_mode} detection head")
    ds = data.Dataset(args.data)
    if len(ds.labels) != spec["num_classes"]:
        raise ValueError(f"dataset has {len(ds.labels)} labels, the spec {spec['num_classes']} classes")
    if ds.frames != spec["frames"] or ds.size != spec["crop_size"]:
        raise ValueError(f"dataset clips are T={ds.frames} S={ds.size}, the spec wants "
                         f"T={spec['frames']} S={spec['crop_size']}")
    train = ds.split(args.train_split)
    val = ds.splits.get(args.val_split) if args.val_split else None
    if args.limit > 0:
        train = data.Split(train.name, train.clips[:args.limit], train.labels[:args.limit], train.items[:args.limit])
        if val is not None:
            val = data.Split(val.name, val.clips[:args.limit], val.labels[:args.limit], val.items[:args.limit])
    if len(train) == 0:
        raise ValueError("empty training split")
    actors_all = [clip_actors(it) for it in train.items]
    ncls = len(ds.labels)
    stride = int(det["stride"])
    grid = ds.size // stride

    model = net.build(spec).to(device)
    fixed_bn = []  # parts whose BN statistics must stay as loaded (eval mode in training)
    if args.init and args.init.endswith(".onnx"):
        n, fixed_bn = load_onnx_init(model, args.init)
        ch.progress("init", tensors=n)
    elif args.init:
        # Backbone (and neck) weights of another run, e.g. the single-stage model for roi.
        ck = torch.load(args.init, map_location=device)
        state = ck.get("model_state", ck)
        own = model.state_dict()
        keep = {k: v for k, v in state.items()
                if (k.startswith("stem.") or k.startswith("stages.") or k.startswith("neck."))
                and k in own and own[k].shape == v.shape}
        if not keep:
            raise ValueError(f"--init {args.init}: no backbone weights match this network")
        model.load_state_dict(keep, strict=False)
        ch.progress("init", tensors=len(keep))
    if args.freeze_backbone:
        if not args.init:
            raise ValueError("--freeze-backbone needs --init (a trained backbone)")
        for p in list(model.stem.parameters()) + list(model.stages.parameters()):
            p.requires_grad_(False)
    opt = torch.optim.SGD(param_groups(model, args.weight_decay), lr=args.lr, momentum=args.momentum)
    steps_per_epoch, total, warmup = schedule(args, len(train))
    ckpt_path, history, start_epoch = resume(args, spec, model, opt, device, ch)

    lut = torch.from_numpy(ds.lut).to(device)
    gen = torch.Generator()
    hperm = label_map(args.flip_pairs, ds.labels)
    vperm = label_map(args.vflip_pairs, ds.labels)

    cache = val_cache = None
    if args.freeze_backbone:
        variants = ["none"] + (["h"] if args.flip else []) + (["v"] if args.vflip else [])
        t0 = time.time()
        st = os.stat(args.init)
        key = {"init": os.path.abspath(args.init), "init_bytes": st.st_size, "init_mtime": st.st_mtime,
               "data": os.path.abspath(args.data), "limit": args.limit, "stages": len(model.stages)}
        cache = FeatureCache.cached(args.feature_cache, dict(key, split=train.name, variants=variants), lambda: FeatureCache(
            model, train, lut, ds, device, variants, args.eval_batch,
            lambda i, n: ch.progress("features", step=i, total=n, elapsed_s=time.time() - t0)),
            len(model.neck.lat))
        if val is not None and len(val):
            val_cache = FeatureCache.cached(args.feature_cache, dict(key, split=val.name, variants=["none"]),
                                            lambda: FeatureCache(model, val, lut, ds, device, ["none"], args.eval_batch),
                                            len(model.neck.lat))

    def train_mode():
        model.train()
        # Folded or frozen BN statistics: the init's features exactly.
        for part in fixed_bn + ([model.stem, model.stages] if args.freeze_backbone else []):
            part.eval()

    train_mode()
    t_start = time.time()
    clips_done, last_sent = 0, 0.0
    for epoch in range(start_epoch, args.epochs):
        gen.manual_seed(args.seed * 1000003 + epoch)
        perm = torch.randperm(len(train), generator=gen)
        ep_loss, ep_correct, ep_actors, ep_n = 0.0, 0, 0, 0
        ep_t0 = time.time()
        lr = args.lr
        for b in range(steps_per_epoch):
            step = epoch * steps_per_epoch + b
            lr = lr_at(step, total, warmup, args.lr, args.final_lr_frac)
            for g in opt.param_groups:
                g["lr"] = lr
            idx = perm[b * args.batch:(b + 1) * args.batch]
            if len(idx) == 0:
                continue
            order = np.sort(idx.numpy())
            acts = [actors_all[j] for j in order]
            if cache is not None:
                var = torch.randint(0, len(cache.variants), (len(order),), generator=gen)
                for k, v in enumerate(var.tolist()):
                    kind = cache.variants[v]
                    if kind != "none":
                        acts[k] = flip_actors(acts[k], hperm if kind == "h" else vperm, kind == "h")
                x = cache.batch(torch.from_numpy(order), var)
            else:
                u8 = torch.from_numpy(np.array(train.clips[order])).to(device)
                x = data.centre(data.to_float(u8, lut), ds.crop_offset, ds.size)
            if cache is None and (args.flip or args.vflip):
                x = x.clone()
                for k in range(len(acts)):
                    if args.flip and float(torch.rand(1, generator=gen)) < 0.5:
                        x[k] = x[k].flip(-1)
                        acts[k] = flip_actors(acts[k], hperm, True)
                    if args.vflip and float(torch.rand(1, generator=gen)) < 0.5:
                        x[k] = x[k].flip(-2)
                        acts[k] = flip_actors(acts[k], vperm, False)
            if cache is None:
                x = x.contiguous()
            if model.mode == "roi":
                rois, labels = jitter_rois(acts, gen, args.roi_jitter)
                if not labels:
                    continue
                neg = negative_rois(acts, gen, args.roi_negatives)
                logits = model_forward(model, x, torch.cat([rois, neg]).to(device))
                loss = F.binary_cross_entropy_with_logits(logits, multi_hot(labels, ncls, len(neg)).to(device))
                correct = int((logits[:len(labels)].argmax(1).cpu() == torch.tensor(labels)).sum())
                nact = len(labels)
            else:
                tg = tuple(t.to(device) for t in batch_targets(acts, grid, ncls))
                out = model_forward(model, x)
                loss, _ = detect.centre_losses(out, tg)
                mask = tg[4]
                correct = int(((out[3].argmax(1) == tg[3].argmax(1)).float() * mask).sum())
                nact = int(mask.sum())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            # The heatmap's focal loss spikes while the centres are still unknown.
            torch.nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
            opt.step()
            n = len(idx)
            ep_loss += float(loss.detach()) * n
            ep_correct += correct
            ep_actors += nact
            ep_n += n
            clips_done += n
            now = time.time()
            if now - last_sent >= args.progress_every or b == steps_per_epoch - 1:
                last_sent = now
                el = now - t_start
                ch.progress("train", step=step + 1, total=total, epoch=epoch + 1, epochs=args.epochs,
                            loss=ep_loss / ep_n, acc=ep_correct / max(1, ep_actors), lr=lr,
                            clips_per_s=clips_done / el if el > 0 else 0.0, elapsed_s=el)
        ep_time = time.time() - ep_t0
        rec = {"epoch": epoch + 1, "lr": lr, "train_loss": ep_loss / max(1, ep_n),
               "train_acc": ep_correct / max(1, ep_actors),
               "clips_per_s": ep_n / ep_time if ep_time > 0 else 0.0, "seconds": ep_time}
        last = epoch + 1 == args.epochs
        if val is not None and len(val) and (last or (args.val_every > 0 and (epoch + 1) % args.val_every == 0)):
            ev = evaluate(model, val, lut, ds, device, args.eval_batch, ncls, grid, stride, val_cache)
            train_mode()
            rec.update(val_loss=ev["loss"], val_top1=ev["top1"], val_map=ev["map"])
            if last:
                rec["val_ap"] = ev["ap"]
        history.append(rec)
        ch.progress("epoch", step=epoch + 1, total=args.epochs, **{k: v for k, v in rec.items() if k != "val_ap"})
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
