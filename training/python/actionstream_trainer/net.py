"""X3D as a torch.nn.Module, built only from the architecture spec JSON that
training/x3d (Go) writes. No X3D rule (widths, depths, SE placement, shortcut kinds)
is decided here: every layer's shape comes from the spec, so the Go counter, this
network and the exported ONNX model cannot disagree. See docs/X3D_SPEC.md.
"""
import copy

import torch
from torch import nn

SCHEMA_VERSION = 1


class SpecError(ValueError):
    """The architecture spec is malformed or inconsistent."""


def _get(obj, key, where, kind=int):
    if not isinstance(obj, dict) or key not in obj:
        raise SpecError(f"{where}: missing {key!r}")
    v = obj[key]
    if kind is int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise SpecError(f"{where}.{key}: want an integer, got {v!r}")
    elif kind is float:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise SpecError(f"{where}.{key}: want a number, got {v!r}")
        v = float(v)
    elif not isinstance(v, kind):
        raise SpecError(f"{where}.{key}: want {kind.__name__}, got {v!r}")
    return v


def _positive(v, where):
    if v <= 0:
        raise SpecError(f"{where}: must be positive, got {v}")
    return v


class Swish(nn.Module):
    """x * sigmoid(x), written out so ONNX gets Sigmoid + Mul (no SiLU op needed)."""

    def forward(self, x):
        return x * torch.sigmoid(x)


class ConvBN(nn.Module):
    """A Conv3d optionally followed by BatchNorm3d. fold() merges the BN into the
    conv (eval statistics) for inference export."""

    def __init__(self, conv, bn=None):
        super().__init__()
        self.conv = conv
        self.bn = bn

    def forward(self, x):
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return x

    @torch.no_grad()
    def fold(self):
        if self.bn is None:
            return
        bn, conv = self.bn, self.conv
        # Fold in float64 so the folded model matches the unfolded one to float32 rounding.
        scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
        w = conv.weight.double() * scale.reshape(-1, *([1] * (conv.weight.dim() - 1)))
        b0 = conv.bias.double() if conv.bias is not None else torch.zeros_like(scale)
        b = (b0 - bn.running_mean.double()) * scale + bn.bias.double()
        folded = nn.Conv3d(conv.in_channels, conv.out_channels, conv.kernel_size,
                           stride=conv.stride, padding=conv.padding, dilation=conv.dilation,
                           groups=conv.groups, bias=True)
        folded.weight.copy_(w.float())
        folded.bias.copy_(b.float())
        self.conv = folded
        self.bn = None


def _bn(channels, eps, momentum):
    return nn.BatchNorm3d(channels, eps=eps, momentum=momentum)


class Stem(nn.Module):
    """Spatial 1xkxk conv (stride 1,s,s) -> depthwise temporal tkx1x1 conv -> BN -> ReLU."""

    def __init__(self, spec, eps, momentum):
        super().__init__()
        w = "stem"
        cin = _positive(_get(spec, "in_channels", w), w + ".in_channels")
        cout = _positive(_get(spec, "out_channels", w), w + ".out_channels")
        k = _positive(_get(spec, "spatial_kernel", w), w + ".spatial_kernel")
        s = _positive(_get(spec, "spatial_stride", w), w + ".spatial_stride")
        tk = _positive(_get(spec, "temporal_kernel", w), w + ".temporal_kernel")
        self.conv_xy = nn.Conv3d(cin, cout, (1, k, k), stride=(1, s, s),
                                 padding=(0, k // 2, k // 2), bias=False)
        self.conv_t = ConvBN(
            nn.Conv3d(cout, cout, (tk, 1, 1), padding=(tk // 2, 0, 0), groups=cout, bias=False),
            _bn(cout, eps, momentum))
        self.relu = nn.ReLU(inplace=True)
        self.in_channels, self.out_channels = cin, cout

    def forward(self, x):
        return self.relu(self.conv_t(self.conv_xy(x)))


class SqueezeExcite(nn.Module):
    def __init__(self, channels, squeeze):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.fc1 = nn.Conv3d(channels, squeeze, 1, bias=True)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv3d(squeeze, channels, 1, bias=True)
        self.gate = nn.Sigmoid()

    def forward(self, x):
        s = self.gate(self.fc2(self.relu(self.fc1(self.pool(x)))))
        return x * s


class Block(nn.Module):
    """X3D bottleneck: 1x1x1 -> BN -> ReLU -> depthwise 3x3x3 (stride 1,s,s) -> BN
    -> [SE] -> Swish -> 1x1x1 -> BN, plus shortcut, then ReLU."""

    SHORTCUTS = ("identity", "conv", "conv_bn")

    def __init__(self, spec, where, eps, momentum):
        super().__init__()
        cin = _positive(_get(spec, "in_channels", where), where + ".in_channels")
        inner = _positive(_get(spec, "inner_channels", where), where + ".inner_channels")
        cout = _positive(_get(spec, "out_channels", where), where + ".out_channels")
        s = _positive(_get(spec, "spatial_stride", where), where + ".spatial_stride")
        se = _get(spec, "se_channels", where)
        if se < 0:
            raise SpecError(f"{where}.se_channels: negative")
        shortcut = _get(spec, "shortcut", where, str)
        if shortcut not in self.SHORTCUTS:
            raise SpecError(f"{where}.shortcut: {shortcut!r} is not one of {self.SHORTCUTS}")
        if shortcut == "identity" and (cin != cout or s != 1):
            raise SpecError(f"{where}: identity shortcut needs equal widths and stride 1 "
                            f"(got {cin}->{cout}, stride {s})")

        self.a = ConvBN(nn.Conv3d(cin, inner, 1, bias=False), _bn(inner, eps, momentum))
        self.relu_a = nn.ReLU(inplace=True)
        self.b = ConvBN(nn.Conv3d(inner, inner, 3, stride=(1, s, s), padding=1, groups=inner,
                                  bias=False), _bn(inner, eps, momentum))
        self.se = SqueezeExcite(inner, se) if se > 0 else None
        self.swish = Swish()
        self.c = ConvBN(nn.Conv3d(inner, cout, 1, bias=False), _bn(cout, eps, momentum))
        if shortcut == "identity":
            self.shortcut = None
        else:
            self.shortcut = ConvBN(
                nn.Conv3d(cin, cout, 1, stride=(1, s, s), bias=False),
                _bn(cout, eps, momentum) if shortcut == "conv_bn" else None)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        y = self.relu_a(self.a(x))
        y = self.b(y)
        if self.se is not None:
            y = self.se(y)
        y = self.c(self.swish(y))
        sc = x if self.shortcut is None else self.shortcut(x)
        return self.relu(y + sc)


class Stage(nn.Module):
    def __init__(self, spec, index, eps, momentum):
        super().__init__()
        name = spec.get("name", f"stage{index}") if isinstance(spec, dict) else None
        where = f"stages[{index}]"
        blocks = _get(spec, "blocks", where, list)
        if not blocks:
            raise SpecError(f"{where}: no blocks")
        self.name = name
        self.blocks = nn.Sequential(*[
            Block(b, f"{where}.blocks[{j}]", eps, momentum) for j, b in enumerate(blocks)])

    def forward(self, x):
        return self.blocks(x)


class Head(nn.Module):
    """1x1x1 conv -> BN -> ReLU -> AvgPool3d(pool_kernel, stride 1) -> 1x1x1 conv -> ReLU
    -> Dropout -> Linear. The linear runs at every pooled position and the logits are
    averaged, so the network stays fully convolutional at larger test crops."""

    def __init__(self, spec, num_classes, eps, momentum):
        super().__init__()
        w = "head"
        cin = _positive(_get(spec, "in_channels", w), w + ".in_channels")
        conv_ch = _positive(_get(spec, "conv_channels", w), w + ".conv_channels")
        fc_ch = _positive(_get(spec, "fc_channels", w), w + ".fc_channels")
        pool = _get(spec, "pool_kernel", w, list)
        if len(pool) != 3 or not all(isinstance(p, int) and p > 0 for p in pool):
            raise SpecError(f"head.pool_kernel: want 3 positive integers, got {pool!r}")
        dropout = _get(spec, "dropout", w, float)
        if not 0.0 <= dropout < 1.0:
            raise SpecError(f"head.dropout: {dropout} not in [0,1)")
        self.conv = ConvBN(nn.Conv3d(cin, conv_ch, 1, bias=False), _bn(conv_ch, eps, momentum))
        self.relu = nn.ReLU(inplace=True)
        # No padding, so count_include_pad is moot; False keeps a no-op Pad out of the ONNX graph.
        self.pool = nn.AvgPool3d(tuple(pool), stride=1, count_include_pad=False)
        self.post_conv = nn.Conv3d(conv_ch, fc_ch, 1, bias=False)
        self.post_relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(fc_ch, num_classes, bias=True)
        self.in_channels = cin

    def forward(self, x):
        x = self.relu(self.conv(x))
        x = self.post_relu(self.post_conv(self.pool(x)))
        x = self.dropout(x)
        x = x.permute(0, 2, 3, 4, 1)          # N,T,H,W,C: classify every position
        x = self.proj(x)
        return x.mean(dim=(1, 2, 3))          # N,classes


class X3D(nn.Module):
    """The network for one architecture spec (a dict parsed from the Arch JSON)."""

    def __init__(self, spec):
        super().__init__()
        if not isinstance(spec, dict):
            raise SpecError("spec: want a JSON object")
        version = spec.get("schema_version", SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            raise SpecError(f"schema_version {version} not supported (want {SCHEMA_VERSION})")
        self.num_classes = _positive(_get(spec, "num_classes", "spec"), "num_classes")
        self.frames = _positive(_get(spec, "frames", "spec"), "frames")
        self.crop_size = _positive(_get(spec, "crop_size", "spec"), "crop_size")
        eps = _get(spec, "bn_eps", "spec", float) if "bn_eps" in spec else 1e-5
        momentum = _get(spec, "bn_momentum", "spec", float) if "bn_momentum" in spec else 0.1
        self.stem = Stem(_get(spec, "stem", "spec", dict), eps, momentum)
        stages = _get(spec, "stages", "spec", list)
        if not stages:
            raise SpecError("spec: no stages")
        self.stages = nn.Sequential(*[Stage(s, i, eps, momentum) for i, s in enumerate(stages)])
        self.detection = spec.get("detection")
        self.head, self.neck, self.det_head = None, None, None
        if self.detection is None:
            self.head = Head(_get(spec, "head", "spec", dict), self.num_classes, eps, momentum)
        else:
            from . import detect
            try:
                n = detect.levels(self.detection)
                if len(stages) < n:
                    raise detect.DetectionSpecError(f"detection: needs at least {n} stages")
                widths = [st["blocks"][-1]["out_channels"] for st in stages[-n:]]
                self.neck, self.det_head = detect.build_head(
                    self.detection, widths, self.num_classes, self.crop_size, ConvBN,
                    lambda ch: _bn(ch, eps, momentum))
            except detect.DetectionSpecError as e:
                raise SpecError(str(e)) from e
        self._check_widths(stages)
        self.spec = copy.deepcopy(spec)

    def _check_widths(self, stages):
        width = self.stem.out_channels
        for i, st in enumerate(stages):
            for j, b in enumerate(st["blocks"]):
                if b["in_channels"] != width:
                    raise SpecError(f"stages[{i}].blocks[{j}].in_channels {b['in_channels']} "
                                    f"!= previous output {width}")
                width = b["out_channels"]
        if self.head is not None and self.head.in_channels != width:
            raise SpecError(f"head.in_channels {self.head.in_channels} != last stage output {width}")

    def input_shape(self, batch):
        return (batch, self.stem.in_channels, self.frames, self.crop_size, self.crop_size)

    @property
    def mode(self):
        return None if self.detection is None else self.detection["mode"]

    def forward(self, x, rois=None):
        """Classification: logits [N,C]. single_stage: (heat, size, offset, actions) logits,
        each [N,.,G,G]. roi: action logits [K,C] for rois [K,5]."""
        x = self.stem(x)
        if self.detection is None:
            return self.head(self.stages(x))
        feats = []
        for st in self.stages:
            x = st(x)
            feats.append(x)
        y = self.neck(*feats[-len(self.neck.lat):])
        if self.mode == "roi":
            return self.det_head(y, rois)
        return self.det_head(y)

    def init_weights(self):
        """Initialisation of the reference X3D: MSRA (kaiming normal, fan_out, relu) for
        convs, BN gamma 1 beta 0 except the last BN of each residual branch (gamma 0, so
        every block starts as its shortcut), linear N(0, 0.01), all biases 0."""
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
                m.reset_running_stats()
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, mean=0.0, std=0.01)
                nn.init.zeros_(m.bias)
        for m in self.modules():
            if isinstance(m, Block):
                nn.init.zeros_(m.c.bn.weight)
        if self.mode == "single_stage":
            self.det_head.init_bias()
        return self

    def fold_bn(self):
        """Merge every BatchNorm into its conv (inference only; call on an eval copy)."""
        for m in self.modules():
            if isinstance(m, ConvBN):
                m.fold()
        return self

    def param_counts(self):
        total = sum(p.numel() for p in self.parameters())
        bn = sum(p.numel() for m in self.modules() if isinstance(m, nn.BatchNorm3d)
                 for p in m.parameters(recurse=False))
        return total, total - bn


def build(spec, init=True):
    model = X3D(spec)
    if init:
        model.init_weights()
    return model
