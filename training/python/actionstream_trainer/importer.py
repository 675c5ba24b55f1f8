"""Conversion of public X3D checkpoints to this package's network (net.py).

Three key schemes are known, each read off that project's module tree:

PyTorchVideo (create_x3d; checkpoint["model_state"]):
  blocks.0.conv.conv_t      the SPATIAL 1xkxk stem conv (create_x3d_stem hands Conv2plus1d
                            its spatial conv as conv_t and its temporal one as conv_xy)
  blocks.0.conv.conv_xy     the temporal depthwise tkx1x1 stem conv
  blocks.0.norm             stem BN
  blocks.{1..4}.res_blocks.{i}.branch2.{conv_a,norm_a,conv_b,norm_b,conv_c,norm_c}
      norm_b is Sequential(BN, SE or Identity) in every block: norm_b.0 is the BN,
      norm_b.1.block.0 / .2 the SE convs (with bias) where there is SE
  blocks.{1..4}.res_blocks.{i}.branch1_conv / branch1_norm   projection shortcut
      (the BN only where the width changes)
  blocks.5.pool.{pre_conv,pre_norm,post_conv}, blocks.5.proj

SlowFast (X3D in slowfast/models; checkpoint["model_state"]):
  s1.pathway0_stem.{conv_xy (spatial), conv (temporal), bn}
  s{2..5}.pathway0_res{i}.branch2.{a,a_bn,b,b_bn,se.fc1,se.fc2,c,c_bn}
  s{2..5}.pathway0_res{i}.branch1 / branch1_bn   (the BN with every projection)
  head.{conv_5,conv_5_bn,lin_5,projection}

MMAction2 (backbones/x3d.py + heads/x3d_head.py in a Recognizer3D; checkpoint["state_dict"]):
  backbone.conv1_s.conv (spatial), backbone.conv1_t.{conv,bn} (temporal)
  backbone.layer{1..4}.{i}.{conv1,conv2,conv3}.{conv,bn}, .se_module.{fc1,fc2}
  backbone.layer{1..4}.0.downsample.{conv,bn}
  backbone.conv5.{conv,bn}   (our head's first conv: MMAction2 puts it in the backbone)
  cls_head.fc1 (Linear, no bias: our lin_5 conv), cls_head.fc2 (the classifier)

Checkpoints are unpickled with torch.load(weights_only=True); where torch's restricted
unpickler cannot read a plain file (torch 1.13 lacks some opcodes), a second restricted
unpickler that admits only tensor, container and numpy-array globals reads it. Anything
else is refused unless the caller trusts the file (trust=True: a plain torch.load).
"""
import collections
import pickle
import types

import torch

from . import net

SCHEMES = ("pytorchvideo", "slowfast", "mmaction2")
BN_FIELDS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")

# What each scheme's stem and classifier are called; detect() and inspect() use them.
_STEM = {"pytorchvideo": "blocks.0.conv.conv_t.weight", "slowfast": "s1.pathway0_stem.conv_xy.weight",
         "mmaction2": "backbone.conv1_s.conv.weight"}
_CLASSIFIER = {"pytorchvideo": "blocks.5.proj.weight", "slowfast": "head.projection.weight",
               "mmaction2": "cls_head.fc2.weight"}
_SHORTCUT_BN = {"pytorchvideo": "branch1_norm.weight", "slowfast": "branch1_bn.weight",
                "mmaction2": "downsample.bn.weight"}


class ImportError_(ValueError):
    """A checkpoint that cannot be read or does not fit; the message says why."""
    user_facing = True


# Globals a weights-only checkpoint may name: tensor rebuilding, dtypes, containers,
# and numpy arrays/scalars (MMAction2's meta holds some). Nothing that runs code.
_SAFE_GLOBALS = {
    ("collections", "OrderedDict"), ("torch", "Size"), ("torch", "device"), ("torch", "Tensor"),
    ("torch.nn.parameter", "Parameter"), ("torch.serialization", "_get_layout"),
    ("torch._utils", "_rebuild_tensor"), ("torch._utils", "_rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_parameter"), ("torch._utils", "_rebuild_parameter_with_state"),
    ("torch._utils", "_rebuild_sparse_tensor"), ("torch._utils", "_rebuild_meta_tensor_no_storage"),
    ("torch._utils", "_rebuild_qtensor"), ("torch", "per_tensor_affine"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),  # numpy pickles its bytes through it
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _SAFE_GLOBALS or (module == "torch" and isinstance(getattr(torch, name, None), torch.dtype)):
            return super().find_class(module, name)
        if module.startswith("numpy") and name.endswith("DType"):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed")


_restricted_pickle = types.SimpleNamespace(
    __name__="actionstream_restricted_pickle", Unpickler=_RestrictedUnpickler,
    load=lambda f, **kw: _RestrictedUnpickler(f, **kw).load())


def _restricted_load(path):
    """torch.load's own readers with _RestrictedUnpickler. Called directly: torch 1.13's
    torch.load drops a pickle_module argument unless weights_only is set."""
    from torch import serialization as ser
    with open(path, "rb") as f:
        if ser._is_zipfile(f):
            with ser._open_zipfile_reader(f) as z:
                return ser._load(z, "cpu", _restricted_pickle, encoding="utf-8")
        return ser._legacy_load(f, "cpu", _restricted_pickle, encoding="utf-8")


def _torch_load(path, trust):
    if trust:
        return torch.load(path, map_location="cpu")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as first:
        # torch's weights-only reader refuses some plain files (torch 1.13 has no float
        # opcode, as an optimizer state needs; numpy arrays in a meta dict): read them
        # again with _RestrictedUnpickler, which refuses the same code-running globals.
        reason = str(first).rsplit("error:", 1)[-1].strip()
        try:
            return _restricted_load(path)
        except pickle.UnpicklingError as e:
            if "is not allowed" in str(e):
                raise ImportError_(_refusal(path, str(e))) from None
            raise ImportError_(f"{path}: not a PyTorch checkpoint ({e})") from None
        except (AttributeError, TypeError):  # this torch's readers differ: keep its refusal
            raise ImportError_(_refusal(path, reason)) from None


def _refusal(path, why):
    return (f"{path}: refused to unpickle: {why}; a checkpoint pickle can run code when loaded, "
            "so only tensors and plain containers are read (pass --trust-checkpoint if you "
            "trust where this file comes from)")


def load_state(path, trust=False):
    """The checkpoint's tensors by key (the model's state dict inside the project's
    container: model_state, state_dict or model; a DataParallel module. prefix dropped)."""
    try:
        ck = _torch_load(path, trust)
    except ImportError_:
        raise
    except FileNotFoundError:
        raise ImportError_(f"{path}: no such file") from None
    except Exception as e:  # torch's message names the format problem
        raise ImportError_(f"{path}: not a PyTorch checkpoint ({type(e).__name__}: {e})") from None
    state = ck
    if isinstance(ck, dict):
        for k in ("model_state", "state_dict", "model"):
            if k in ck and isinstance(ck[k], dict):
                state = ck[k]
                break
    if not isinstance(state, dict) or not state:
        raise ImportError_(f"{path}: no state dict found")
    out = collections.OrderedDict()
    for k, v in state.items():
        if not torch.is_tensor(v):
            continue
        if k.startswith("module."):
            k = k[len("module."):]
        out[k] = v
    if not out:
        raise ImportError_(f"{path}: the state dict holds no tensors")
    return out


def detect(state):
    for scheme, stem in _STEM.items():
        if stem in state:
            return scheme
    first = next(iter(state))
    raise ImportError_(f"unknown checkpoint layout: first key {first!r}; want PyTorchVideo "
                       "(blocks.0.conv.conv_t.weight), SlowFast (s1.pathway0_stem.conv_xy.weight) or "
                       "MMAction2 (backbone.conv1_s.conv.weight)")


def _stage_prefix(scheme, s, b):
    if scheme == "pytorchvideo":
        return f"blocks.{s + 1}.res_blocks.{b}."
    if scheme == "mmaction2":
        return f"backbone.layer{s + 1}.{b}."
    return f"s{s + 2}.pathway0_res{b}."


def inspect(state, scheme):
    """What the checkpoint's shapes say about the network: blocks per stage, which
    blocks have a projection shortcut with BN, and the class count."""
    if scheme not in SCHEMES:
        raise ImportError_(f"unknown scheme {scheme!r} (want one of {', '.join(SCHEMES)})")
    if _STEM[scheme] not in state:
        first = next(iter(state))
        raise ImportError_(f"not a {scheme} checkpoint: it has no {_STEM[scheme]} (first key {first!r})")
    stages = []
    shortcut_bn = []
    for s in range(4):
        b = 0
        while True:
            p = _stage_prefix(scheme, s, b)
            if not any(k.startswith(p) for k in state):
                break
            if p + _SHORTCUT_BN[scheme] in state:
                shortcut_bn.append([s, b])
            b += 1
        stages.append(b)
    proj = _CLASSIFIER[scheme]
    if proj not in state:
        raise ImportError_(f"no classifier ({proj}) in the {scheme} checkpoint")
    return {"scheme": scheme, "blocks": stages, "shortcut_bn": shortcut_bn,
            "num_classes": int(state[proj].shape[0])}


def key_map(model, scheme):
    """Our state-dict key -> the checkpoint's key, for every tensor of model. A
    Linear of theirs that is a 1x1x1 conv of ours is reshaped (MMAction2's fc1)."""
    m = {}

    def bn(ours, theirs):
        for f in BN_FIELDS:
            m[f"{ours}.{f}"] = f"{theirs}.{f}"

    def se(o, fc1, fc2):
        for ours, theirs in (("fc1", fc1), ("fc2", fc2)):
            m[f"{o}se.{ours}.weight"] = f"{theirs}.weight"
            m[f"{o}se.{ours}.bias"] = f"{theirs}.bias"

    if scheme == "pytorchvideo":
        m["stem.conv_xy.weight"] = "blocks.0.conv.conv_t.weight"
        m["stem.conv_t.conv.weight"] = "blocks.0.conv.conv_xy.weight"
        bn("stem.conv_t.bn", "blocks.0.norm")
    elif scheme == "slowfast":
        m["stem.conv_xy.weight"] = "s1.pathway0_stem.conv_xy.weight"
        m["stem.conv_t.conv.weight"] = "s1.pathway0_stem.conv.weight"
        bn("stem.conv_t.bn", "s1.pathway0_stem.bn")
    else:
        m["stem.conv_xy.weight"] = "backbone.conv1_s.conv.weight"
        m["stem.conv_t.conv.weight"] = "backbone.conv1_t.conv.weight"
        bn("stem.conv_t.bn", "backbone.conv1_t.bn")
    for s, stage in enumerate(model.stages):
        for b, blk in enumerate(stage.blocks):
            o = f"stages.{s}.blocks.{b}."
            q = _stage_prefix(scheme, s, b)
            if scheme == "pytorchvideo":
                br = q + "branch2."
                for ours, conv, norm in (("a", "conv_a", "norm_a"), ("b", "conv_b", "norm_b.0"), ("c", "conv_c", "norm_c")):
                    m[f"{o}{ours}.conv.weight"] = f"{br}{conv}.weight"
                    bn(f"{o}{ours}.bn", br + norm)
                if blk.se is not None:
                    se(o, br + "norm_b.1.block.0", br + "norm_b.1.block.2")
                sc_conv, sc_bn = q + "branch1_conv", q + "branch1_norm"
            elif scheme == "slowfast":
                br = q + "branch2."
                for ours in ("a", "b", "c"):
                    m[f"{o}{ours}.conv.weight"] = f"{br}{ours}.weight"
                    bn(f"{o}{ours}.bn", f"{br}{ours}_bn")
                if blk.se is not None:
                    se(o, br + "se.fc1", br + "se.fc2")
                sc_conv, sc_bn = q + "branch1", q + "branch1_bn"
            else:
                for ours, theirs in (("a", "conv1"), ("b", "conv2"), ("c", "conv3")):
                    m[f"{o}{ours}.conv.weight"] = f"{q}{theirs}.conv.weight"
                    bn(f"{o}{ours}.bn", f"{q}{theirs}.bn")
                if blk.se is not None:
                    se(o, q + "se_module.fc1", q + "se_module.fc2")
                sc_conv, sc_bn = q + "downsample.conv", q + "downsample.bn"
            if blk.shortcut is not None:
                m[o + "shortcut.conv.weight"] = sc_conv + ".weight"
                if blk.shortcut.bn is not None:
                    bn(o + "shortcut.bn", sc_bn)
    if scheme == "pytorchvideo":
        m["head.conv.conv.weight"] = "blocks.5.pool.pre_conv.weight"
        bn("head.conv.bn", "blocks.5.pool.pre_norm")
        m["head.post_conv.weight"] = "blocks.5.pool.post_conv.weight"
        m["head.proj.weight"], m["head.proj.bias"] = "blocks.5.proj.weight", "blocks.5.proj.bias"
    elif scheme == "slowfast":
        m["head.conv.conv.weight"] = "head.conv_5.weight"
        bn("head.conv.bn", "head.conv_5_bn")
        m["head.post_conv.weight"] = "head.lin_5.weight"
        m["head.proj.weight"], m["head.proj.bias"] = "head.projection.weight", "head.projection.bias"
    else:
        m["head.conv.conv.weight"] = "backbone.conv5.conv.weight"
        bn("head.conv.bn", "backbone.conv5.bn")
        m["head.post_conv.weight"] = "cls_head.fc1.weight"
        m["head.proj.weight"], m["head.proj.bias"] = "cls_head.fc2.weight", "cls_head.fc2.bias"
    return m


def _fits(theirs, ours):
    """theirs can fill ours: the same shape, or a Linear weight for a 1x1x1 conv."""
    if tuple(theirs.shape) == tuple(ours.shape):
        return True
    return theirs.dim() == 2 and ours.dim() == 5 and tuple(ours.shape[2:]) == (1, 1, 1) \
        and tuple(theirs.shape) == tuple(ours.shape[:2])


def convert(spec, state, scheme):
    """Our model built from spec with the checkpoint's weights. Every tensor of the
    model must come from the checkpoint with a fitting shape, and every checkpoint
    tensor must be used; otherwise the error names the first bad key (in the
    checkpoint's own order) and counts the rest."""
    model = net.build(spec, init=False)
    ours = model.state_dict()
    kmap = key_map(model, scheme)
    used = set(kmap.values())
    missing, bad, new = [], {}, {}
    for k, v in ours.items():
        src = kmap.get(k)
        if src is None:
            missing.append(f"{k} (no mapping)")
            continue
        if src not in state:
            if k.endswith("num_batches_tracked"):
                new[k] = v.new_zeros(())
                continue
            missing.append(src)
            continue
        t = state[src]
        if not _fits(t, v):
            bad[src] = f"{src} has shape {list(t.shape)}, the architecture wants {list(v.shape)}"
            continue
        new[k] = t.reshape(v.shape).to(v.dtype)
    unused = [k for k in state if k not in used]
    if missing or bad or unused:
        name = spec.get("name", "the architecture")
        first = next((k for k in state if k in bad or k not in used), None)
        if first is None:
            why = f"first bad key {missing[0]}: missing from the checkpoint"
        elif first in bad:
            why = f"first bad key {bad[first]}"
        else:
            why = f"first bad key {first}: not part of the {scheme} layout of {name}"
        counts = []
        if unused:
            counts.append(f"{len(unused)} unexpected (" + ", ".join(unused[:4]) + ("…" if len(unused) > 4 else "") + ")")
        if bad:
            counts.append(f"{len(bad)} with another shape")
        if missing:
            counts.append(f"{len(missing)} missing (" + ", ".join(missing[:4]) + ("…" if len(missing) > 4 else "") + ")")
        raise ImportError_(f"{scheme} checkpoint does not fit {name}: {why}; " + ", ".join(counts))
    model.load_state_dict(new, strict=True)
    model.eval()
    return model, len(new)
