"""One layer against its reference: each differing attribute in words, with both values.

Per kind of layer (conv, Linear, pool, LRN, BatchNorm), and the output-size formula with the
numbers in when a conv or pool gives the wrong height.
"""

from __future__ import annotations

from ._steps import Layer, Step, dims
from ._values import fmt, numel


def _size_formula(n: int, k: int, s: int, p: int, d: int = 1) -> str:
    """The book's output-size formula with the numbers in: '⌊(27 + 2·2 − 5)/2⌋ + 1 = 14'."""
    k_eff = d * (k - 1) + 1
    out = (n + 2 * p - k_eff) // s + 1
    pad = f" + 2·{p}" if p else ""
    if s == 1:
        return f"{n}{pad} − {k_eff} + 1 = {out}"
    return f"⌊({n}{pad} − {k_eff})/{s}⌋ + 1 = {out}"


def _conv_differences(mine: Step, ref: Step, label: str, next_ref: Layer | None) -> list[str]:
    a, b = mine.attrs, ref.attrs
    out = []
    kernel = "×".join(map(str, b["kernel_size"]))
    if a["kernel_size"] != b["kernel_size"]:
        out.append(f"this conv has a {'×'.join(map(str, a['kernel_size']))} kernel; "
                   f"{label} has {kernel}")
    if a["stride"] != b["stride"]:
        out.append(f"this conv uses stride={fmt(a['stride'])}; {label} uses "
                   f"{'stride ' + fmt(b['stride']) if b['stride'] != (1, 1) else 'stride 1'}")
    if a["padding"] != b["padding"]:
        if a["padding"] == (0, 0):
            out.append(f"this conv has no padding; {label} uses padding={fmt(b['padding'])} "
                       f"(per side)")
        else:
            theirs = "none" if b["padding"] == (0, 0) else f"padding={fmt(b['padding'])}"
            out.append(f"this conv uses padding={fmt(a['padding'])}; {label} uses {theirs}")
    if a["dilation"] != b["dilation"]:
        out.append(f"this conv uses dilation={fmt(a['dilation'])}; {label} uses "
                   f"{fmt(b['dilation'])}")
    if a["out_channels"] != b["out_channels"]:
        out.append(f"this conv makes {a['out_channels']} feature maps; {label} makes "
                   f"{b['out_channels']}")
    if a["in_channels"] != b["in_channels"]:
        out.append(f"this conv expects {a['in_channels']} input channels; {label} takes "
                   f"{b['in_channels']}")
    if a["groups"] != b["groups"]:
        if a["groups"] == 1:
            out.append(f"groups={b['groups']} missing: expected {ref.params:,} params, got "
                       f"{mine.params:,}. With groups={b['groups']} each output map sees only "
                       f"{b['in_channels'] // b['groups']} of the {b['in_channels']} input maps "
                       f"(AlexNet's two GPUs), which divides the weights by {b['groups']}")
        else:
            out.append(f"this conv uses groups={a['groups']}; {label} uses groups={b['groups']}"
                       f" (expected {ref.params:,} params, got {mine.params:,})")
    if a["bias"] != b["bias"]:
        bn_next = next_ref is not None and next_ref.kind == "bn"
        if a["bias"]:
            why = (": a BatchNorm follows, and its shift β does a bias's job, so the conv has "
                   "bias=False") if bn_next else " (bias=False)"
            out.append(f"this conv has a bias ({a['out_channels']} extra params); {label} has "
                       f"none{why}")
        else:
            out.append(f"this conv has no bias (bias=False); {label} has one "
                       f"({b['out_channels']} params)")
    return out


def _linear_differences(mine: Step, ref: Step, label: str) -> list[str]:
    a, b = mine.attrs, ref.attrs
    out = []
    if a["in_features"] != b["in_features"]:
        out.append(f"this Linear takes {a['in_features']} inputs; {label} takes "
                   f"{b['in_features']}")
    if a["out_features"] != b["out_features"]:
        out.append(f"this Linear has {a['out_features']} outputs; {label} has "
                   f"{b['out_features']}")
    if a["bias"] != b["bias"]:
        out.append(f"this Linear {'has' if a['bias'] else 'has no'} bias; {label} "
                   f"{'has none' if a['bias'] else 'has one'}")
    return out


def _pool_differences(mine: Step, ref: Step, label: str) -> list[str]:
    a, b = mine.attrs, ref.attrs
    if a.get("adaptive") or b.get("adaptive"):
        if mine.out_shape != ref.out_shape and numel(mine.out_shape) == numel(ref.out_shape):
            return []
        return [f"this pool outputs {dims(mine.out_shape)}; {label} outputs "
                f"{dims(ref.out_shape)}"] if mine.out_shape != ref.out_shape else []
    out = []
    for key, what in (("kernel_size", "window"), ("stride", "stride"), ("padding", "padding")):
        if a[key] != b[key]:
            out.append(f"this pool's {what} is {fmt(a[key])}; {label}'s is {fmt(b[key])}")
    if a["ceil_mode"] != b["ceil_mode"]:
        out.append(f"this pool uses ceil_mode={a['ceil_mode']}; {label} uses "
                   f"ceil_mode={b['ceil_mode']}")
    return out


def _lrn_differences(mine: Step, ref: Step, label: str) -> list[str]:
    a, b = mine.attrs, ref.attrs
    out = []
    across, theirs = a.get("across_channels", True), b.get("across_channels", True)
    if across != theirs:
        def form(size, over):
            return f"{size} neighbouring channels" if over else \
                f"a {size}×{size} neighbourhood of the same map"
        out.append(f"this LRN sums the squares over {form(a['size'], across)}; {label} over "
                   f"{form(b['size'], theirs)}")
    elif a["size"] != b["size"]:
        out.append(f"this LRN sums over size={a['size']} channels; {label} over {b['size']}")
    if abs(a["alpha_sum"] - b["alpha_sum"]) > 1e-6 * max(abs(b["alpha_sum"]), 1e-12):
        text = (f"this LRN's α on the sum of squares is {a['alpha_sum']:.3g}; {label}'s is "
                f"{b['alpha_sum']:.3g}")
        window = a["size"] if across else a["size"] ** 2
        if a.get("torch"):
            text += (f". nn.LocalResponseNorm divides alpha by size (it averages the squares): "
                     f"pass alpha={b['alpha_sum'] * a['size']:g} to get the paper's "
                     f"α = {b['alpha_sum']:g}")
        elif a.get("identified") and window > 1 and \
                abs(a["alpha_sum"] * window - b["alpha_sum"]) <= 1e-3 * b["alpha_sum"]:
            text += (f": your layer averages the squares over its window of {window}, which "
                     f"divides α by {window}")
        out.append(text)
    for key in ("beta", "k"):
        if abs(a[key] - b[key]) > 1e-9:
            out.append(f"this LRN uses {key}={a[key]:g}; {label} uses {key}={b[key]:g}")
    return out


def attribute_differences(mine: Layer, ref: Layer, label: str,
                           next_ref: Layer | None) -> list[str]:
    """Each attribute of ``mine`` that differs from ``ref``, as a phrase naming both values."""
    kind = ref.kind
    if kind == "conv":
        return _conv_differences(mine.step, ref.step, label, next_ref)
    if kind == "linear":
        return _linear_differences(mine.step, ref.step, label)
    if kind in ("maxpool", "avgpool"):
        return _pool_differences(mine.step, ref.step, label)
    if kind == "lrn":
        return _lrn_differences(mine.step, ref.step, label)
    if kind == "bn":
        out = []
        if mine.step.attrs["num_features"] != ref.step.attrs["num_features"]:
            out.append(f"this BatchNorm has {mine.step.attrs['num_features']} features; {label} "
                       f"has {ref.step.attrs['num_features']}")
        if mine.step.attrs["affine"] != ref.step.attrs["affine"]:
            out.append(f"this BatchNorm has affine={mine.step.attrs['affine']}; {label} has "
                       f"affine={ref.step.attrs['affine']}")
        return out
    return []


def shape_arithmetic(mine: Step, ref: Step) -> str:
    """'⌊(14 + 2·1 − 5)/1⌋ + 1 = 12, not 10' for a conv or pool whose height differs."""
    if mine.kind not in ("conv", "maxpool", "avgpool") or mine.attrs.get("adaptive") \
            or ref.attrs.get("adaptive") or ref.kind != mine.kind:
        return ""
    if not mine.in_shape or len(mine.in_shape) != 3 or not ref.out_shape:
        return ""
    if mine.out_shape and mine.out_shape[1:] == ref.out_shape[1:]:
        return ""
    a = mine.attrs
    n = mine.in_shape[1]
    b = ref.attrs
    theirs = _size_formula(n, b["kernel_size"][0], b["stride"][0], b["padding"][0],
                           b.get("dilation", (1, 1))[0])
    mine_f = _size_formula(n, a["kernel_size"][0], a["stride"][0], a["padding"][0],
                           a.get("dilation", (1, 1))[0])
    return f"yours: {mine_f}; expected: {theirs}"
