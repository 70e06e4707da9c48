"""The layers the quiz asks about: drawn at random from real networks' choices, described as
PyTorch code and built as modules.

A layer is a small dict (``{"type": "conv", "cin": 64, "k": 3, ...}``) so that the quiz box
in the browser (``_static/quiz.js``) can hold the same tables and draw the same layers, in
the same order, from the same seed. Change a table or a draw here and change it there too:
``tests/test_quiz_browser.py`` compares the two.
"""

from __future__ import annotations

from torch import nn

from .arithmetic import conv_output_size, pool_output_size
from ._seeded import Mulberry32

# (kernel, stride, padding, dilation) of convolutions in the book's networks: 3x3 'same'
# (VGG, ResNet), 3x3 stride 2 (ResNet's downsampling), 'valid' 3x3 and 5x5 (LeNet), 1x1
# (bottlenecks) and the 1x1 stride-2 projection, 5x5 'same' (AlexNet's conv2), a dilated 3x3
# (DeepLab) and a 7x7 'same'.
CONV_PATTERNS = [(3, 1, 1, 1), (3, 1, 1, 1), (3, 2, 1, 1), (3, 1, 0, 1), (5, 1, 0, 1),
                 (1, 1, 0, 1), (1, 2, 0, 1), (5, 1, 2, 1), (3, 2, 0, 1), (3, 1, 2, 2),
                 (7, 1, 3, 1)]
# First layers on RGB images (kernel, stride, padding, out channels): AlexNet's paper and
# torchvision's, ResNet's stem; input 224 or 227 (the paper's misprint and the size that works).
STEMS = [(11, 4, 0, 96), (11, 4, 2, 64), (7, 2, 3, 64), (5, 2, 2, 32)]
STEM_SIZES = [224, 227]
POOLS = [(2, 2, 0), (2, 2, 0), (3, 2, 0), (3, 2, 1)]  # LeNet/VGG, AlexNet, ResNet's stem
SIZES = [7, 8, 13, 14, 15, 27, 28, 31, 32, 55, 56, 64, 112]
CHANNELS = [3, 16, 32, 64, 96, 128, 192, 256, 384, 512]
# (channels, side) of maps that a classifier flattens, and its layers' widths.
LINEAR_INPUTS = [(16, 5), (256, 6), (512, 7), (512, 1), (2048, 1), (64, 8), (120, 1),
                 (84, 1), (4096, 1), (128, 4)]
LINEAR_OUTPUTS = [10, 84, 100, 1000, 4096]


def k_eff(layer: dict) -> int:
    """The width a kernel spans: ``d(k - 1) + 1``."""
    return layer.get("d", 1) * (layer["k"] - 1) + 1


def _fits(n: int, k: int, p: int, d: int = 1) -> bool:
    return n + 2 * p >= d * (k - 1) + 1


def draw_conv(rng: Mulberry32, c: int | None, n: int | None, stem: bool, bn: bool,
              relu: bool) -> dict:
    """A convolution on ``c`` channels of side ``n``; ``None`` draws the input too (a stem
    sometimes, when ``stem``). Its input is stored in the layer (``c``, ``n``)."""
    use_stem = rng.below(4) == 0
    if c is None and stem and use_stem:
        k, s, p, cout = rng.pick(STEMS)
        c, n, d = 3, rng.pick(STEM_SIZES), 1
    else:
        if n is None:
            n = rng.pick(SIZES)
        k, s, p, d = rng.pick([q for q in CONV_PATTERNS if _fits(n, q[0], q[2], q[3])])
        if c is None:
            c = rng.pick(CHANNELS)
        cout = rng.pick(CHANNELS[1:])
    grouped = rng.below(6) == 0
    groups = 2 if grouped and c % 2 == 0 else 1
    with_bn = bn and rng.below(2) == 0
    bias = rng.below(2) == 0 and not with_bn
    return {"type": "conv", "c": c, "n": n, "cin": c, "cout": cout, "k": k, "s": s, "p": p,
            "d": d, "groups": groups, "bias": bias, "bn": with_bn, "relu": relu}


def draw_pool(rng: Mulberry32, c: int | None, n: int | None) -> dict:
    """A max or average pooling on ``c`` channels of side ``n`` (``None``: drawn)."""
    if n is None:
        n = rng.pick(SIZES)
    if c is None:
        c = rng.pick(CHANNELS)
    k, s, p = rng.pick([q for q in POOLS if _fits(n, q[0], q[2])])
    kind = "maxpool" if rng.below(3) > 0 else "avgpool"
    return {"type": kind, "c": c, "n": n, "k": k, "s": s, "p": p}


def draw_linear(rng: Mulberry32) -> dict:
    c, n = rng.pick(LINEAR_INPUTS)
    fout = rng.pick(LINEAR_OUTPUTS)
    return {"type": "linear", "c": c, "n": n, "fin": c * n * n, "fout": fout,
            "bias": rng.below(4) > 0}


def draw_stack(rng: Mulberry32, count: int, bn: bool) -> list[dict]:
    """``count`` convolutions and poolings in a row, as in a network's feature extractor: a
    pooling never first nor twice in a row; every convolution followed by ReLU (and BN)."""
    layers: list[dict] = []
    c = n = None
    for i in range(count):
        pool = rng.below(3) == 0
        if pool and i > 0 and layers[-1]["type"] == "conv":
            layer = draw_pool(rng, c, n)
        else:
            layer = draw_conv(rng, c, n, stem=True, bn=bn, relu=True)
            if i == 0 and layer["n"] < 27:  # a stack starts on a large map
                layer["n"] = 56 if layer["n"] < 14 else 2 * layer["n"]
        layers.append(layer)
        c, n = out_channels(layer), out_size(layer)
    return layers


def out_size(layer: dict) -> int:
    """The output's side, PyTorch's floor included (the formula the book prints)."""
    if layer["type"] == "conv":
        return conv_output_size(layer["n"], layer["k"], layer["s"], layer["p"], layer["d"])
    return pool_output_size(layer["n"], layer["k"], layer["s"], layer["p"])


def out_channels(layer: dict) -> int:
    return layer["cout"] if layer["type"] == "conv" else layer["c"]


def describe(layer: dict) -> list[str]:
    """The layer as PyTorch code, one module a line (a convolution's BN and ReLU included)."""
    if layer["type"] == "linear":
        bias = "" if layer["bias"] else ", bias=False"
        return ["nn.Flatten()", f"nn.Linear({layer['fin']}, {layer['fout']}{bias})"]
    k, s, p = layer["k"], layer["s"], layer["p"]
    if layer["type"] != "conv":
        name = "nn.MaxPool2d" if layer["type"] == "maxpool" else "nn.AvgPool2d"
        args = f"kernel_size={k}" + ("" if s == k else f", stride={s}")
        return [f"{name}({args}{f', padding={p}' if p else ''})"]
    args = [f"{layer['cin']}", f"{layer['cout']}", f"kernel_size={k}"]
    args += [f"stride={s}"] if s != 1 else []
    args += [f"padding={p}"] if p else []
    args += [f"dilation={layer['d']}"] if layer["d"] != 1 else []
    args += [f"groups={layer['groups']}"] if layer["groups"] != 1 else []
    args += [] if layer["bias"] else ["bias=False"]
    lines = [f"nn.Conv2d({', '.join(args)})"]
    lines += [f"nn.BatchNorm2d({layer['cout']})"] if layer["bn"] else []
    lines += ["nn.ReLU(inplace=True)"] if layer["relu"] else []
    return lines


def build(layers: list[dict]) -> nn.Sequential:
    """The modules ``describe`` writes, in an ``nn.Sequential``."""
    modules: list[nn.Module] = []
    for layer in layers:
        if layer["type"] == "linear":
            modules += [nn.Flatten(), nn.Linear(layer["fin"], layer["fout"],
                                                bias=layer["bias"])]
        elif layer["type"] == "conv":
            modules.append(nn.Conv2d(layer["cin"], layer["cout"], layer["k"], stride=layer["s"],
                                     padding=layer["p"], dilation=layer["d"],
                                     groups=layer["groups"], bias=layer["bias"]))
            modules += [nn.BatchNorm2d(layer["cout"])] if layer["bn"] else []
            modules += [nn.ReLU(inplace=True)] if layer["relu"] else []
        else:
            pool = nn.MaxPool2d if layer["type"] == "maxpool" else nn.AvgPool2d
            modules.append(pool(layer["k"], stride=layer["s"], padding=layer["p"]))
    return nn.Sequential(*modules)
