"""Test fixture for training/importer: X3D written three times, once per public code
base, with each project's own module tree (attribute names, nesting, which layers
exist where) and forward order, so that the state_dict keys and shapes are exactly
the ones that project's checkpoints carry. Nothing here imports actionstream_trainer.

  pytorchvideo  pytorchvideo/models/x3d.py create_x3d (+ resnet.py, stem.py, head.py,
                layers/convolutions.py Conv2plus1d, fvcore's SqueezeExcitation)
  slowfast      slowfast/models/video_model_builder.py X3D (+ stem_helper.X3DStem,
                resnet_helper.ResStage/ResBlock/X3DTransform, operators.SE,
                head_helper.X3DHead)
  mmaction2     mmaction/models/backbones/x3d.py X3D + heads/x3d_head.py X3DHead in a
                Recognizer3D (keys under backbone. and cls_head.)

The networks are built from each project's own hyper-parameters and rules (widths,
depths, where a projection shortcut has a BN, which blocks get SE), not from our
architecture spec, so a disagreement between our reading and theirs fails the test.

usage: x3d_fixtures.py --scheme S --width W --bottleneck B --depth D --frames T
       --crop C --classes N --out CKPT [--input X.f32 --batch N --output Y.f32]
       [--keys KEYS.json] [--rename OLD=NEW]... [--booby-trap FILE]
--width/--bottleneck/--depth are the X3D paper's factors (X3D-XS: 2.0, 2.25, 2.2);
for MMAction2 they become gamma_w = width/2 (its base width is 24, not 12),
gamma_b, gamma_d. The output is what the project's network returns in eval mode
(logits; SlowFast's head applies its softmax before averaging).
"""
import argparse
import collections
import json
import math
import os

import numpy as np
import torch
from torch import nn


def round8(width, factor, floor=8, step=8):
    """Channel rounding all three projects use: nearest multiple of step, at least
    floor, bumped up one step if rounding lost more than 10%."""
    if not factor:
        return width
    want = width * factor
    got = max(floor, int(want + step / 2) // step * step)
    return int(got + step if got < 0.9 * want else got)


def ceil_repeats(n, factor):
    return n if not factor else int(math.ceil(factor * n))


def bn(c):
    return nn.BatchNorm3d(c, eps=1e-5, momentum=0.1)


def dw3(c, stride, tk=3):
    return nn.Conv3d(c, c, (tk, 3, 3), stride=(1, stride, stride), padding=(tk // 2, 1, 1),
                     groups=c, bias=False)


def pw(cin, cout, stride=1):
    return nn.Conv3d(cin, cout, 1, stride=(1, stride, stride), bias=False)


class SwishAct(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(x)


# ---------------------------------------------------------------- PyTorchVideo

class PVSqueeze(nn.Module):
    """fvcore SqueezeExcitation(is_3d=True): one Sequential named block."""

    def __init__(self, c, squeezed):
        super().__init__()
        self.block = nn.Sequential(nn.Conv3d(c, squeezed, 1, bias=True), nn.ReLU(),
                                   nn.Conv3d(squeezed, c, 1, bias=True), nn.Sigmoid())

    def forward(self, x):
        return x * self.block(x.mean(dim=(2, 3, 4), keepdim=True))


class PVBottleneck(nn.Module):
    def __init__(self, cin, inner, cout, stride, se):
        super().__init__()
        self.conv_a, self.norm_a, self.act_a = pw(cin, inner), bn(inner), nn.ReLU()
        self.conv_b = dw3(inner, stride)
        # norm_b is (BN, SE or Identity) in every block.
        self.norm_b = nn.Sequential(bn(inner), PVSqueeze(inner, round8(inner, 0.0625)) if se else nn.Identity())
        self.act_b = SwishAct()
        self.conv_c, self.norm_c = pw(inner, cout), bn(cout)

    def forward(self, x):
        x = self.act_a(self.norm_a(self.conv_a(x)))
        x = self.act_b(self.norm_b(self.conv_b(x)))
        return self.norm_c(self.conv_c(x))


class PVResBlock(nn.Module):
    def __init__(self, cin, inner, cout, stride, se):
        super().__init__()
        # Projection when the width or the resolution changes; its BN only when the width does.
        self.branch1_conv = pw(cin, cout, stride) if cin != cout or stride > 1 else None
        self.branch1_norm = nn.BatchNorm3d(cout) if cin != cout else None
        self.branch2 = PVBottleneck(cin, inner, cout, stride, se)
        self.activation = nn.ReLU()

    def forward(self, x):
        y = self.branch2(x)
        if self.branch1_conv is not None:
            x = self.branch1_conv(x)
            if self.branch1_norm is not None:
                x = self.branch1_norm(x)
        return self.activation(x + y)


class PVStage(nn.Module):
    def __init__(self, blocks):
        super().__init__()
        self.res_blocks = nn.ModuleList(blocks)

    def forward(self, x):
        for b in self.res_blocks:
            x = b(x)
        return x


class PVConv2plus1d(nn.Module):
    """create_x3d_stem hands its spatial conv in as conv_t and its temporal conv as
    conv_xy; Conv2plus1d runs conv_t first."""

    def __init__(self, spatial, temporal):
        super().__init__()
        self.conv_t, self.conv_xy = spatial, temporal

    def forward(self, x):
        return self.conv_xy(self.conv_t(x))


class PVStem(nn.Module):
    def __init__(self, cout):
        super().__init__()
        spatial = nn.Conv3d(3, cout, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1), bias=False)
        temporal = nn.Conv3d(cout, cout, (5, 1, 1), padding=(2, 0, 0), groups=cout, bias=False)
        self.conv, self.norm, self.activation = PVConv2plus1d(spatial, temporal), bn(cout), nn.ReLU()

    def forward(self, x):
        return self.activation(self.norm(self.conv(x)))


class PVProjectedPool(nn.Module):
    def __init__(self, cin, inner, cout, kernel):
        super().__init__()
        self.pre_conv, self.pre_norm, self.pre_act = pw(cin, inner), bn(inner), nn.ReLU()
        self.pool = nn.AvgPool3d(kernel, stride=1)
        self.post_conv, self.post_act = pw(inner, cout), nn.ReLU()

    def forward(self, x):
        x = self.pool(self.pre_act(self.pre_norm(self.pre_conv(x))))
        return self.post_act(self.post_conv(x))


class PVHead(nn.Module):
    def __init__(self, cin, inner, cout, classes, kernel):
        super().__init__()
        self.pool = PVProjectedPool(cin, inner, cout, kernel)
        self.dropout = nn.Dropout(0.5)
        self.proj = nn.Linear(cout, classes, bias=True)
        self.output_pool = nn.AdaptiveAvgPool3d(1)

    def forward(self, x):
        x = self.dropout(self.pool(x))
        x = self.proj(x.permute(0, 2, 3, 4, 1)).permute(0, 4, 1, 2, 3)
        return self.output_pool(x).flatten(1)


class PVNet(nn.Module):
    def __init__(self, a):
        super().__init__()
        stem_in = 12
        dims = [stem_in]
        for _ in range(3):
            dims.append(round8(dims[-1], 2.0))
        stem_out = round8(stem_in, a.width)
        mods, cin = [PVStem(stem_out)], stem_out
        for i, base in enumerate([1, 2, 5, 3]):
            cout = round8(dims[i], a.width)
            inner = int(a.bottleneck * cout)
            blocks = []
            for j in range(ceil_repeats(base, a.depth)):
                blocks.append(PVResBlock(cin if j == 0 else cout, inner, cout, 2 if j == 0 else 1, j % 2 == 0))
            mods.append(PVStage(blocks))
            cin = cout
        s = math.ceil(a.crop / 32)
        mods.append(PVHead(cin, inner, 2048, a.classes, (a.frames, s, s)))
        self.blocks = nn.ModuleList(mods)

    def forward(self, x):
        for m in self.blocks:
            x = m(x)
        return x


# -------------------------------------------------------------------- SlowFast

class SFSE(nn.Module):
    def __init__(self, c):
        super().__init__()
        squeezed = round8(c, 0.0625)
        self.avg_pool = nn.AdaptiveAvgPool3d((1, 1, 1))
        self.fc1, self.fc1_act = nn.Conv3d(c, squeezed, 1, bias=True), nn.ReLU()
        self.fc2, self.fc2_sig = nn.Conv3d(squeezed, c, 1, bias=True), nn.Sigmoid()

    def forward(self, x):
        return x * self.fc2_sig(self.fc2(self.fc1_act(self.fc1(self.avg_pool(x)))))


class SFTransform(nn.Module):
    def __init__(self, cin, cout, stride, inner, index):
        super().__init__()
        self.a, self.a_bn, self.a_relu = pw(cin, inner), bn(inner), nn.ReLU()
        self.b, self.b_bn = dw3(inner, stride), bn(inner)
        if index % 2 == 0:
            self.se = SFSE(inner)
        self.b_relu = SwishAct()
        self.c, self.c_bn = pw(inner, cout), bn(cout)

    def forward(self, x):
        for m in self.children():  # registration order, SE before the swish
            x = m(x)
        return x


class SFResBlock(nn.Module):
    def __init__(self, cin, cout, stride, inner, index):
        super().__init__()
        if cin != cout or stride != 1:
            self.branch1, self.branch1_bn = pw(cin, cout, stride), bn(cout)
        self.branch2 = SFTransform(cin, cout, stride, inner, index)
        self.relu = nn.ReLU()

    def forward(self, x):
        y = self.branch2(x)
        if hasattr(self, "branch1"):
            x = self.branch1_bn(self.branch1(x))
        return self.relu(x + y)


class SFStage(nn.Module):
    def __init__(self, cin, cout, inner, n):
        super().__init__()
        self.n = n
        for i in range(n):
            self.add_module(f"pathway0_res{i}", SFResBlock(cin if i == 0 else cout, cout, 2 if i == 0 else 1, inner, i))

    def forward(self, xs):
        x = xs[0]
        for i in range(self.n):
            x = getattr(self, f"pathway0_res{i}")(x)
        return [x]


class SFStemPathway(nn.Module):
    def __init__(self, cout):
        super().__init__()
        self.conv_xy = nn.Conv3d(3, cout, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1), bias=False)
        self.conv = nn.Conv3d(cout, cout, (5, 1, 1), padding=(2, 0, 0), groups=cout, bias=False)
        self.bn, self.relu = bn(cout), nn.ReLU()

    def forward(self, x):
        return self.relu(self.bn(self.conv(self.conv_xy(x))))


class SFStem(nn.Module):
    def __init__(self, cout):
        super().__init__()
        self.pathway0_stem = SFStemPathway(cout)

    def forward(self, xs):
        return [self.pathway0_stem(xs[0])]


class SFHead(nn.Module):
    def __init__(self, cin, inner, cout, classes, pool):
        super().__init__()
        self.conv_5, self.conv_5_bn, self.conv_5_relu = pw(cin, inner), bn(inner), nn.ReLU()
        self.avg_pool = nn.AvgPool3d(pool, stride=1)
        self.lin_5, self.lin_5_relu = pw(inner, cout), nn.ReLU()
        self.dropout = nn.Dropout(0.5)
        self.projection = nn.Linear(cout, classes, bias=True)
        self.act = nn.Softmax(dim=4)

    def forward(self, xs):
        x = self.avg_pool(self.conv_5_relu(self.conv_5_bn(self.conv_5(xs[0]))))
        x = self.lin_5_relu(self.lin_5(x)).permute(0, 2, 3, 4, 1)
        x = self.projection(self.dropout(x))
        if not self.training:
            x = self.act(x).mean([1, 2, 3])
        return x.reshape(x.shape[0], -1)


class SFNet(nn.Module):
    def __init__(self, a):
        super().__init__()
        c1 = 12  # X3D.DIM_C1, SCALE_RES2 off: res2 keeps it
        bases = [c1]
        for _ in range(3):
            bases.append(round8(bases[-1], 2.0))
        cin = round8(c1, a.width)
        self.s1 = SFStem(cin)
        for i, n in enumerate([1, 2, 5, 3]):
            cout = round8(bases[i], a.width)
            inner = int(a.bottleneck * cout)
            self.add_module(f"s{i + 2}", SFStage(cin, cout, inner, ceil_repeats(n, a.depth)))
            cin = cout
        s = math.ceil(a.crop / 32.0)
        self.head = SFHead(cin, inner, 2048, a.classes, [a.frames, s, s])

    def forward(self, x):
        x = [x]
        for m in self.children():
            x = m(x)
        return x


# ------------------------------------------------------------------- MMAction2

class ConvModule(nn.Module):
    """mmcv's ConvModule as configured here: conv, then the norm registered as bn,
    then the activation (no parameters)."""

    def __init__(self, conv, norm=True, act=False):
        super().__init__()
        self.conv = conv
        if norm:
            self.bn = bn(conv.out_channels)
        self.activate = nn.ReLU() if act else None

    def forward(self, x):
        x = self.conv(x)
        if hasattr(self, "bn"):
            x = self.bn(x)
        return self.activate(x) if self.activate is not None else x


class MMSE(nn.Module):
    def __init__(self, c):
        super().__init__()
        squeezed = round8(c, 1 / 16)
        self.avg_pool = nn.AdaptiveAvgPool3d(1)
        self.fc1, self.relu = nn.Conv3d(c, squeezed, 1), nn.ReLU()
        self.fc2, self.sigmoid = nn.Conv3d(squeezed, c, 1), nn.Sigmoid()

    def forward(self, x):
        return x * self.sigmoid(self.fc2(self.relu(self.fc1(self.avg_pool(x)))))


class MMBlock(nn.Module):
    def __init__(self, cin, planes, cout, stride, downsample, se):
        super().__init__()
        self.downsample = downsample
        self.conv1 = ConvModule(pw(cin, planes), act=True)
        self.conv2 = ConvModule(dw3(planes, stride))
        self.swish = SwishAct()
        self.conv3 = ConvModule(pw(planes, cout))
        self.se = se
        if se:
            self.se_module = MMSE(planes)
        self.relu = nn.ReLU()

    def forward(self, x):
        y = self.conv2(self.conv1(x))
        if self.se:
            y = self.se_module(y)
        y = self.conv3(self.swish(y))
        if self.downsample is not None:
            x = self.downsample(x)
        return self.relu(y + x)


class MMBackbone(nn.Module):
    def __init__(self, gamma_w, gamma_b, gamma_d):
        super().__init__()
        base = round8(24, gamma_w)
        self.conv1_s = ConvModule(nn.Conv3d(3, base, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1), bias=False),
                                  norm=False)
        self.conv1_t = ConvModule(nn.Conv3d(base, base, (5, 1, 1), padding=(2, 0, 0), groups=base, bias=False),
                                  act=True)
        self.layers, cin = [], base
        for i, n in enumerate([1, 2, 5, 3]):
            cout = base * 2 ** i
            planes = int(cout * gamma_b)
            n = ceil_repeats(n, gamma_d)
            stride = 2  # spatial_strides (2, 2, 2, 2)
            # The downsample (conv + BN) belongs to the first block only, its BN always there.
            down = ConvModule(pw(cin, cout, stride)) if stride != 1 or cin != cout else None
            blocks = [MMBlock(cin, planes, cout, stride, down, True)]
            blocks += [MMBlock(cout, planes, cout, 1, None, j % 2 == 0) for j in range(1, n)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
            self.layers.append(f"layer{i + 1}")
            cin = cout
        self.feat_dim = int(cin * gamma_b)
        self.conv5 = ConvModule(pw(cin, self.feat_dim), act=True)

    def forward(self, x):
        x = self.conv1_t(self.conv1_s(x))
        for name in self.layers:
            x = getattr(self, name)(x)
        return self.conv5(x)


class MMHead(nn.Module):
    def __init__(self, cin, classes):
        super().__init__()
        self.dropout = nn.Dropout(0.5)
        self.fc1 = nn.Linear(cin, 2048, bias=False)
        self.fc2 = nn.Linear(2048, classes)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool3d((1, 1, 1))

    def forward(self, x):
        x = self.pool(x).flatten(1)
        return self.fc2(self.dropout(self.relu(self.fc1(x))))


class MMRecognizer(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.backbone = MMBackbone(a.width / 2, a.bottleneck, a.depth)
        self.cls_head = MMHead(self.backbone.feat_dim, a.classes)

    def forward(self, x):
        return self.cls_head(self.backbone(x))


NETS = {"pytorchvideo": PVNet, "slowfast": SFNet, "mmaction2": MMRecognizer}


def randomize(model, g, classes):
    """Every tensor random and distinct (BN statistics included), scaled so that the
    activations stay O(1) through the depth and the classifier's softmax is not
    saturated."""
    def rnd(t, scale, shift=0.0, uniform=False):
        r = torch.rand(t.shape, generator=g) if uniform else torch.randn(t.shape, generator=g)
        t.copy_(r * scale + shift)

    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm3d):
                rnd(m.weight, 1.0, 0.5, uniform=True)
                rnd(m.bias, 0.2)
                rnd(m.running_mean, 0.2)
                rnd(m.running_var, 1.5, 0.5, uniform=True)
                m.num_batches_tracked.fill_(100)
            elif isinstance(m, (nn.Conv3d, nn.Linear)):
                gain = 0.1 if isinstance(m, nn.Linear) and m.out_features == classes else 2.0
                rnd(m.weight, (gain / m.weight[0].numel()) ** 0.5)
                if m.bias is not None:
                    rnd(m.bias, 0.1)


def container(scheme, state, model, a):
    """The checkpoint file each project writes."""
    if scheme == "mmaction2":
        meta = {"mmaction2_version": "1.2.0", "time": "Tue Oct 27 2020", "epoch": 0, "iter": 0,
                "config": f"model = dict(type='Recognizer3D', backbone=dict(type='X3D', gamma_w={a.width / 2}))"}
        return {"meta": meta, "state_dict": collections.OrderedDict(state)}
    ck = {"epoch": 300, "model_state": state}
    if scheme == "slowfast":
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-5)
        ck["optimizer_state"] = opt.state_dict()
        ck["cfg"] = f"MODEL:\n  ARCH: x3d\n  NUM_CLASSES: {a.classes}\nX3D:\n  WIDTH_FACTOR: {a.width}\n"
    return ck


class BoobyTrap:
    """Unpickling this object creates a file: what a hostile checkpoint would do."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--scheme", required=True, choices=sorted(NETS))
    for f in ("width", "bottleneck", "depth"):
        p.add_argument("--" + f, type=float, required=True)
    for f in ("frames", "crop", "classes"):
        p.add_argument("--" + f, type=int, required=True)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", required=True)
    p.add_argument("--input")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--output")
    p.add_argument("--keys")
    p.add_argument("--rename", action="append", default=[])
    p.add_argument("--booby-trap")
    a = p.parse_args()
    torch.manual_seed(a.seed)
    model = NETS[a.scheme](a)
    randomize(model, torch.Generator().manual_seed(a.seed), a.classes)
    model.eval()
    if a.input:
        x = torch.from_numpy(np.fromfile(a.input, dtype="<f4").reshape(a.batch, 3, a.frames, a.crop, a.crop))
        with torch.no_grad():
            model(x).numpy().astype("<f4").tofile(a.output)
    state = collections.OrderedDict((k, v.clone()) for k, v in model.state_dict().items())
    for r in a.rename:
        old, new = r.split("=", 1)
        state = collections.OrderedDict((new if k == old else k, v) for k, v in state.items())
    if a.keys:
        with open(a.keys, "w") as f:
            json.dump({k: list(v.shape) for k, v in state.items()}, f)
    ck = container(a.scheme, state, model, a)
    if a.booby_trap:
        ck["hook"] = BoobyTrap(a.booby_trap)
    torch.save(ck, a.out)


if __name__ == "__main__":
    main()
