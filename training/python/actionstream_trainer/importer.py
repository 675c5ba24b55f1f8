"""Conversion of public X3D checkpoints to this package's network (net.py).

Two key schemes are known:

PyTorchVideo (create_x3d; checkpoint["model_state"]):
  blocks.0.conv.conv_t      the SPATIAL 1xkxk stem conv (PyTorchVideo's Conv2plus1d is
                            built with conv_t=<spatial>, conv_xy=<temporal>)
  blocks.0.conv.conv_xy     the temporal depthwise tkx1x1 stem conv
  blocks.0.norm             stem BN
  blocks.{1..4}.res_blocks.{i}.branch2.{conv_a,norm_a,conv_b,norm_b,conv_c,norm_c}
      with SE: norm_b.0 (BN), norm_b.1.block.0 / .2 (SE fc1 / fc2, with bias)
  blocks.{1..4}.res_blocks.{i}.branch1_conv / branch1_norm   projection shortcut
  blocks.5.pool.{pre_conv,pre_norm,post_conv}, blocks.5.proj

SlowFast (X3D in slowfast/models; checkpoint["model_state"]):
  s1.pathway0_stem.{conv_xy (spatial), conv (temporal), bn}
  s{2..5}.pathway0_res{i}.branch2.{a,a_bn,b,b_bn,se.fc1,se.fc2,c,c_bn}
  s{2..5}.pathway0_res{i}.branch1 / branch1_bn
  head.{conv_5,conv_5_bn,lin_5,projection}
"""
import torch

from . import net

SCHEMES = ("pytorchvideo", "slowfast")
BN_FIELDS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


class ImportError_(ValueError):
    pass


def load_state(path):
    ck = torch.load(path, map_location="cpu")
    state = ck
    if isinstance(ck, dict):
        for k in ("model_state", "state_dict", "model"):
            if k in ck and isinstance(ck[k], dict):
                state = ck[k]
                break
    if not isinstance(state, dict) or not state:
        raise ImportError_(f"{path}: no state dict found")
    out = {}
    for k, v in state.items():
        if not torch.is_tensor(v):
            continue
        for p in ("module.", "model."):
            if k.startswith(p):
                k = k[len(p):]
        out[k] = v
    return out


def detect(state):
    if any(k.startswith("blocks.0.conv.") for k in state):
        return "pytorchvideo"
    if any(k.startswith("s1.pathway0_stem.") for k in state):
        return "slowfast"
    raise ImportError_("unknown checkpoint layout: neither PyTorchVideo (blocks.0.conv.*) "
                       "nor SlowFast (s1.pathway0_stem.*) keys")


def _stage_prefix(scheme, s, b):
    if scheme == "pytorchvideo":
        return f"blocks.{s + 1}.res_blocks.{b}."
    return f"s{s + 2}.pathway0_res{b}."


def inspect(state, scheme):
    """What the checkpoint's shapes say about the network: blocks per stage, which
    blocks have a projection shortcut with BN, SE blocks, and the class count."""
    stages = []
    shortcut_bn = []
    for s in range(4):
        b = 0
        while True:
            p = _stage_prefix(scheme, s, b)
            if not any(k.startswith(p) for k in state):
                break
            bn = p + ("branch1_norm.weight" if scheme == "pytorchvideo" else "branch1_bn.weight")
            if bn in state:
                shortcut_bn.append([s, b])
            b += 1
        stages.append(b)
    proj = "blocks.5.proj.weight" if scheme == "pytorchvideo" else "head.projection.weight"
    if proj not in state:
        raise ImportError_(f"no classifier ({proj})")
    return {"scheme": scheme, "blocks": stages, "shortcut_bn": shortcut_bn,
            "num_classes": int(state[proj].shape[0])}


def key_map(model, scheme):
    """Our state-dict key -> the checkpoint's key, for every tensor of model."""
    pv = scheme == "pytorchvideo"
    m = {}

    def bn(ours, theirs):
        for f in BN_FIELDS:
            m[f"{ours}.{f}"] = f"{theirs}.{f}"

    if pv:
        m["stem.conv_xy.weight"] = "blocks.0.conv.conv_t.weight"
        m["stem.conv_t.conv.weight"] = "blocks.0.conv.conv_xy.weight"
        bn("stem.conv_t.bn", "blocks.0.norm")
    else:
        m["stem.conv_xy.weight"] = "s1.pathway0_stem.conv_xy.weight"
        m["stem.conv_t.conv.weight"] = "s1.pathway0_stem.conv.weight"
        bn("stem.conv_t.bn", "s1.pathway0_stem.bn")
    for s, stage in enumerate(model.stages):
        for b, blk in enumerate(stage.blocks):
            o = f"stages.{s}.blocks.{b}."
            q = _stage_prefix(scheme, s, b)
            br = q + "branch2."
            if pv:
                m[o + "a.conv.weight"] = br + "conv_a.weight"
                bn(o + "a.bn", br + "norm_a")
                m[o + "b.conv.weight"] = br + "conv_b.weight"
                bn(o + "b.bn", br + ("norm_b.0" if blk.se is not None else "norm_b"))
                if blk.se is not None:
                    for ours, theirs in (("fc1", "norm_b.1.block.0"), ("fc2", "norm_b.1.block.2")):
                        m[f"{o}se.{ours}.weight"] = f"{br}{theirs}.weight"
                        m[f"{o}se.{ours}.bias"] = f"{br}{theirs}.bias"
                m[o + "c.conv.weight"] = br + "conv_c.weight"
                bn(o + "c.bn", br + "norm_c")
                sc_conv, sc_bn = q + "branch1_conv", q + "branch1_norm"
            else:
                for ours, theirs in (("a", "a"), ("b", "b"), ("c", "c")):
                    m[f"{o}{ours}.conv.weight"] = f"{br}{theirs}.weight"
                    bn(f"{o}{ours}.bn", f"{br}{theirs}_bn")
                if blk.se is not None:
                    for f in ("fc1", "fc2"):
                        m[f"{o}se.{f}.weight"] = f"{br}se.{f}.weight"
                        m[f"{o}se.{f}.bias"] = f"{br}se.{f}.bias"
                sc_conv, sc_bn = q + "branch1", q + "branch1_bn"
            if blk.shortcut is not None:
                m[o + "shortcut.conv.weight"] = sc_conv + ".weight"
                if blk.shortcut.bn is not None:
                    bn(o + "shortcut.bn", sc_bn)
    if pv:
        m["head.conv.conv.weight"] = "blocks.5.pool.pre_conv.weight"
        bn("head.conv.bn", "blocks.5.pool.pre_norm")
        m["head.post_conv.weight"] = "blocks.5.pool.post_conv.weight"
        m["head.proj.weight"], m["head.proj.bias"] = "blocks.5.proj.weight", "blocks.5.proj.bias"
    else:
        m["head.conv.conv.weight"] = "head.conv_5.weight"
        bn("head.conv.bn", "head.conv_5_bn")
        m["head.post_conv.weight"] = "head.lin_5.weight"
        m["head.proj.weight"], m["head.proj.bias"] = "head.projection.weight", "head.projection.bias"
    return m


def convert(spec, state, scheme):
    """Our model built from spec with the checkpoint's weights. Every tensor of the
    model must come from the checkpoint with the same shape, and every checkpoint
    tensor must be used; otherwise the error lists what disagrees."""
    model = net.build(spec, init=False)
    ours = model.state_dict()
    kmap = key_map(model, scheme)
    missing, bad, new = [], [], {}
    for k, v in ours.items():
        src = kmap.get(k)
        if src is None:
            missing.append(f"{k} (no mapping)")
            continue
        if src not in state:
            if k.endswith("num_batches_tracked"):
                new[k] = v.new_zeros(())
                continue
            missing.append(f"{src} (for {k})")
            continue
        t = state[src]
        if tuple(t.shape) != tuple(v.shape):
            bad.append(f"{src} {tuple(t.shape)} -> {k} {tuple(v.shape)}")
            continue
        new[k] = t.to(v.dtype)
    used = set(kmap.values())
    unused = sorted(k for k in state if k not in used)
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing: " + ", ".join(missing[:8]))
    if bad:
        problems.append(f"{len(bad)} shape mismatches: " + ", ".join(bad[:8]))
    if unused:
        problems.append(f"{len(unused)} checkpoint tensors unused: " + ", ".join(unused[:8]))
    if problems:
        raise ImportError_(f"{scheme} checkpoint does not fit {spec.get('name', 'the spec')}: "
                           + "; ".join(problems))
    model.load_state_dict(new, strict=True)
    model.eval()
    return model, len(new)
