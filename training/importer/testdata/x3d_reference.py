"""Test fixture for training/importer: writes a random-weight X3D checkpoint in the
PyTorchVideo or SlowFast key scheme, and computes its logits with a plain functional
X3D written against those keys (independent of actionstream_trainer's network and
key mapping), so the importer's output can be checked against it.

usage: x3d_reference.py SCHEME SPEC.json CKPT_OUT INPUT.f32 BATCH OUTPUT.f32
"""
import json
import sys

import numpy as np
import torch
import torch.nn.functional as F

scheme, spec_path, ckpt_out, in_path, batch, out_path = sys.argv[1:7]
batch = int(batch)
spec = json.load(open(spec_path))
pv = scheme == "pytorchvideo"
g = torch.Generator().manual_seed(42)
W = {}


def conv(key, shape):
    fan_in = int(np.prod(shape[1:]))
    W[key] = torch.randn(shape, generator=g) * (2.0 / fan_in) ** 0.5


def bias(key, n, std=0.1):
    W[key] = torch.randn(n, generator=g) * std


def bn(prefix, n):
    W[prefix + ".weight"] = torch.rand(n, generator=g) + 0.5
    W[prefix + ".bias"] = torch.randn(n, generator=g) * 0.2
    W[prefix + ".running_mean"] = torch.randn(n, generator=g) * 0.2
    W[prefix + ".running_var"] = torch.rand(n, generator=g) * 1.5 + 0.5
    W[prefix + ".num_batches_tracked"] = torch.tensor(100)


# The key table of each scheme.
st = spec["stem"]
c0, k, tk = st["out_channels"], st["spatial_kernel"], st["temporal_kernel"]
if pv:
    stem_s, stem_t, stem_bn = "blocks.0.conv.conv_t.weight", "blocks.0.conv.conv_xy.weight", "blocks.0.norm"
else:
    stem_s, stem_t, stem_bn = "s1.pathway0_stem.conv_xy.weight", "s1.pathway0_stem.conv.weight", "s1.pathway0_stem.bn"
conv(stem_s, (c0, 3, 1, k, k))
conv(stem_t, (c0, 1, tk, 1, 1))
bn(stem_bn, c0)
blocks = []
for s, stage in enumerate(spec["stages"]):
    for b, blk in enumerate(stage["blocks"]):
        q = f"blocks.{s + 1}.res_blocks.{b}." if pv else f"s{s + 2}.pathway0_res{b}."
        cin, inner, cout, se = blk["in_channels"], blk["inner_channels"], blk["out_channels"], blk["se_channels"]
        names = {}
        if pv:
            names.update(a="branch2.conv_a.weight", a_bn="branch2.norm_a", b="branch2.conv_b.weight",
                         b_bn="branch2.norm_b.0" if se else "branch2.norm_b", fc1="branch2.norm_b.1.block.0",
                         fc2="branch2.norm_b.1.block.2", c="branch2.conv_c.weight", c_bn="branch2.norm_c",
                         sc="branch1_conv.weight", sc_bn="branch1_norm")
        else:
            names.update(a="branch2.a.weight", a_bn="branch2.a_bn", b="branch2.b.weight", b_bn="branch2.b_bn",
                         fc1="branch2.se.fc1", fc2="branch2.se.fc2", c="branch2.c.weight", c_bn="branch2.c_bn",
                         sc="branch1.weight", sc_bn="branch1_bn")
        names = {n: q + v for n, v in names.items()}
        conv(names["a"], (inner, cin, 1, 1, 1))
        bn(names["a_bn"], inner)
        conv(names["b"], (inner, 1, 3, 3, 3))
        bn(names["b_bn"], inner)
        if se:
            conv(names["fc1"] + ".weight", (se, inner, 1, 1, 1))
            bias(names["fc1"] + ".bias", se)
            conv(names["fc2"] + ".weight", (inner, se, 1, 1, 1))
            bias(names["fc2"] + ".bias", inner)
        conv(names["c"], (cout, inner, 1, 1, 1))
        bn(names["c_bn"], cout)
        proj = blk["shortcut"] != "identity"
        # SlowFast puts a BN after every projection (res2's too); PyTorchVideo here
        # follows the spec (BN where the width changes).
        proj_bn = proj and (not pv or blk["shortcut"] == "conv_bn")
        if proj:
            conv(names["sc"], (cout, cin, 1, 1, 1))
        if proj_bn:
            bn(names["sc_bn"], cout)
        blocks.append((blk, names, proj, proj_bn))
h = spec["head"]
if pv:
    pre, pre_bn, post, proj_w = "blocks.5.pool.pre_conv.weight", "blocks.5.pool.pre_norm", "blocks.5.pool.post_conv.weight", "blocks.5.proj"
else:
    pre, pre_bn, post, proj_w = "head.conv_5.weight", "head.conv_5_bn", "head.lin_5.weight", "head.projection"
conv(pre, (h["conv_channels"], h["in_channels"], 1, 1, 1))
bn(pre_bn, h["conv_channels"])
conv(post, (h["fc_channels"], h["conv_channels"], 1, 1, 1))
W[proj_w + ".weight"] = torch.randn(spec["num_classes"], h["fc_channels"], generator=g) * 0.05
bias(proj_w + ".bias", spec["num_classes"])
torch.save({"model_state": W, "epoch": 300}, ckpt_out)

# The functional forward, read straight off the checkpoint's keys.
eps = spec.get("bn_eps", 1e-5)


def BN(x, p):
    return F.batch_norm(x, W[p + ".running_mean"], W[p + ".running_var"], W[p + ".weight"], W[p + ".bias"],
                        training=False, eps=eps)


shape = (batch, 3, spec["frames"], spec["crop_size"], spec["crop_size"])
x = torch.from_numpy(np.fromfile(in_path, dtype="<f4").reshape(shape))
with torch.no_grad():
    x = F.conv3d(x, W[stem_s], stride=(1, st["spatial_stride"], st["spatial_stride"]), padding=(0, k // 2, k // 2))
    x = F.conv3d(x, W[stem_t], padding=(tk // 2, 0, 0), groups=c0)
    x = F.relu(BN(x, stem_bn))
    for blk, n, proj, proj_bn in blocks:
        s = blk["spatial_stride"]
        y = F.relu(BN(F.conv3d(x, W[n["a"]]), n["a_bn"]))
        y = BN(F.conv3d(y, W[n["b"]], stride=(1, s, s), padding=1, groups=blk["inner_channels"]), n["b_bn"])
        if blk["se_channels"]:
            z = y.mean(dim=(2, 3, 4), keepdim=True)
            z = F.relu(F.conv3d(z, W[n["fc1"] + ".weight"], W[n["fc1"] + ".bias"]))
            y = y * torch.sigmoid(F.conv3d(z, W[n["fc2"] + ".weight"], W[n["fc2"] + ".bias"]))
        y = y * torch.sigmoid(y)
        y = BN(F.conv3d(y, W[n["c"]]), n["c_bn"])
        sc = x
        if proj:
            sc = F.conv3d(x, W[n["sc"]], stride=(1, s, s))
            if proj_bn:
                sc = BN(sc, n["sc_bn"])
        x = F.relu(y + sc)
    x = F.relu(BN(F.conv3d(x, W[pre]), pre_bn))
    x = F.avg_pool3d(x, tuple(h["pool_kernel"]), stride=1)
    x = F.relu(F.conv3d(x, W[post]))
    x = x.permute(0, 2, 3, 4, 1) @ W[proj_w + ".weight"].t() + W[proj_w + ".bias"]
    y = x.mean(dim=(1, 2, 3))
y.numpy().astype("<f4").tofile(out_path)
