"""Comparing two traces layer by layer: the first difference, and what it is in words.

Layers are matched in order; where their kinds differ, the next few layers tell a swap from a
missing or an extra layer, and an activation that differs is told apart from a moved one.
"""

from __future__ import annotations

from ._attributes import attribute_differences, shape_arithmetic
from ._identify import same_as
from ._steps import ACT_NAMES, KIND_NAMES, Layer, Trace, dims
from ._values import fmt, numel


def _kind_text(layer: Layer) -> str:
    return KIND_NAMES.get(layer.kind, layer.kind)


def _header(number: int, layer: Layer) -> str:
    return f"layer {number} ({layer.step.display})"


def _aligned(mine: list[Layer], ref: list[Layer], i: int, j: int, span: int = 3) -> bool:
    """Do ``mine[i:]`` and ``ref[j:]`` continue with the same kinds (next ``span`` layers)?"""
    a = [x.kind for x in mine[i:i + span]]
    b = [x.kind for x in ref[j:j + span]]
    if not a or not b:
        return not a and not b
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def _kind_divergence(mine: list[Layer], ref: list[Layer], i: int, title: str) -> str:
    """Layer ``i`` is of another kind: two layers swapped, some missing, some extra, or else."""
    r, f = mine[i], ref[i]
    number = i + 1
    label = f.label
    # Two neighbours swapped?
    if (i + 1 < len(mine) and i + 1 < len(ref) and mine[i + 1].kind == f.kind
            and ref[i + 1].kind == r.kind):
        text = (f"layers {number} and {number + 1} are swapped: yours runs {_kind_text(r)} then "
                f"{_kind_text(f)}; {title} runs {_kind_text(f)} ({label}) then {_kind_text(r)}")
        if {r.kind, f.kind} == {"conv", "bn"}:
            text += (". BatchNorm normalises the output of the convolution before it: "
                     "conv → BN → ReLU")
        return text + "."
    # A run of layers missing from yours?
    for m in (1, 2, 3):
        if i + m <= len(ref) and _aligned(mine, ref, i, i + m):
            gone = ref[i:i + m]
            return _missing_text(gone, number, mine[i] if i < len(mine) else None, title)
    # Extra layers in yours?
    for m in (1, 2, 3):
        if i + m <= len(mine) and _aligned(mine, ref, i + m, i):
            extra = mine[i:i + m]
            kinds = ", ".join(f"{x.step.display}" for x in extra)
            return (f"layer {number} ({kinds}) is extra: {title} goes straight to "
                    f"{_kind_text(f)} ({label}) here.")
    return (f"layer {number} is {_kind_text(r)} ({r.step.display}); {title} has "
            f"{_kind_text(f)} here ({label}).")


def _missing_text(gone: list[Layer], number: int, instead: Layer | None, title: str) -> str:
    """The reference's layers ``gone`` have no counterpart in the reader's model."""
    first = gone[0]
    if first.shortcut and first.kind == "conv":
        return (f"the shortcut has no projection: {title} sends x through a "
                f"{'×'.join(map(str, first.step.attrs['kernel_size']))} conv "
                f"(stride {fmt(first.step.attrs['stride'])}) + BN before the addition "
                f"({first.label}). When stride=2 or the channels change, x no longer has the "
                f"shape of the main path, so it must be projected: a 1×1 conv with the block's "
                f"stride and output channels, then BatchNorm. (Zero-padding x instead is the "
                f"paper's option A; torchvision and this book use the projection, option B.)")
    if first.kind == "add":
        return (f"there is no residual addition after layer {number - 1}: a residual block adds "
                f"its input (or its projection) to the main path before the last ReLU, "
                f"out = F.relu(out + identity).")
    names = " + ".join(f"{_kind_text(x)} ({x.label})" for x in gone)
    nxt = f", you go straight to {_kind_text(instead)}" if instead is not None else \
        ", your model stops before it"
    text = f"layer {number}: {title} has {names} here{nxt}"
    if first.kind == "bn":
        text += ". Each convolution is followed by BatchNorm: conv → BN → ReLU"
    elif first.kind in ("maxpool", "avgpool"):
        a = first.step.attrs  # a stride-1 pool keeps the size: nothing to say about shrinking
        if not a.get("adaptive") and first.step.in_shape != first.step.out_shape:
            text += (f". Without this {'×'.join(map(str, a['kernel_size']))} pool (stride "
                     f"{fmt(a['stride'])}) the maps stay {dims(first.step.in_shape)} instead "
                     f"of shrinking to {dims(first.step.out_shape)}")
    return text + "."


def _unknown_text(r: Layer, f: Layer, number: int, title: str, same) -> str:
    """The reader's module at layer ``number`` is one the checker could not identify."""
    step = r.step
    where = f"layer {number}" + (f", {step.name}" if step.name else "")
    if step.module is not None and not any(True for _ in step.module.parameters()):
        how = ("on probe inputs it computes neither local response normalisation nor an "
               "activation, and it is none of the layers the checker reads")
    else:
        how = "it is none of the layers the checker reads, so it cannot compare it"
    text = (f"{step.display} ({where}) is not a layer the checker knows: {how}. {title} has "
            f"{_kind_text(f)} here ({f.label})")
    if same is not None:
        on = same[3].replace(" it", f" {step.display}")
        text += (f"; on {on}, {f.label} would output other values (they differ by up to "
                 f"{same[1]:.3g}, on values up to {same[2]:.3g})")
    return text + "."


def _activation_names(acts: tuple[str, ...]) -> str:
    return " then ".join(ACT_NAMES.get(a, a) for a in acts) or "nothing"


def _activation_divergence(mine: list[Layer], ref: list[Layer], i: int, title: str) -> str:
    """Layer ``i`` matches but the activation after it does not: moved, missing, extra, other."""
    r, f = mine[i], ref[i]
    number = i + 1
    names = _activation_names
    # ReLU before BatchNorm instead of after it?
    if (f.kind in ("conv", "linear") and i + 1 < len(ref) and ref[i + 1].kind == "bn"
            and i + 1 < len(mine) and mine[i + 1].kind == "bn" and r.after and not f.after
            and ref[i + 1].after == r.after and not mine[i + 1].after):
        return (f"{names(r.after)} comes between layer {number} ({f.label}) and BatchNorm: "
                f"{title} normalises first and activates after, conv → BN → "
                f"{names(r.after)}.")
    # The same activation, one layer later?
    if (f.after and not r.after and i + 1 < len(mine) and mine[i + 1].after == f.after
            and not (i + 1 < len(ref) and ref[i + 1].after == f.after)):
        return (f"{names(f.after)} comes after layer {number + 1} ({mine[i + 1].step.display}) "
                f"in yours; {title} applies it right after layer {number} ({f.label}), before "
                f"{_kind_text(ref[i + 1]) if i + 1 < len(ref) else 'the end'}.")
    if not r.after:
        return (f"no activation after layer {number} ({f.label}); {title} applies "
                f"{names(f.after)} there. (If you wrote it in an unusual way, use nn.ReLU or "
                f"F.relu so the checker can see it.)")
    if not f.after:
        text = f"{names(r.after)} after layer {number} ({f.label}); {title} has none there"
        if f.kind == "bn" and i + 1 < len(ref) and ref[i + 1].kind == "add":
            text += ": in a residual block the last ReLU comes after the addition"
        if set(r.after) & {"softmax", "log_softmax"}:
            text += (": return the logits; nn.CrossEntropyLoss applies log-softmax itself, so a "
                     "softmax here would be applied twice")
        return text + "."
    return (f"the activation after layer {number} ({f.label}) is {names(r.after)}; {title} "
            f"uses {names(f.after)}.")


def _same_full_connection(r: Layer, f: Layer) -> bool:
    """A conv whose kernel covers its whole input (LeNet-5's C5) is a Linear on flattened maps."""
    conv, linear = (r, f) if r.kind == "conv" else (f, r)
    if {r.kind, f.kind} != {"conv", "linear"} or r.after != f.after:
        return False
    c, fc = conv.step.attrs, linear.step.attrs
    spatial = tuple(conv.step.in_shape[1:]) if conv.step.in_shape else None
    return (c["padding"] == (0, 0) and c["groups"] == 1 and c["dilation"] == (1, 1)
            and spatial == c["kernel_size"] and c["bias"] == fc["bias"]
            and fc["in_features"] == c["in_channels"] * numel(spatial)
            and fc["out_features"] == c["out_channels"])


def compare(mine: Trace, ref: Trace, title: str, notes: list | None = None,
             culprit: dict | None = None) -> tuple[int | None, str, list]:
    """The first differing layer (0-based) and its explanation; (None, '', marks) if none.

    Accepted equivalences are appended to ``notes``; ``culprit["step"]`` is set to the step of
    the reader's code to point at (the layer, or the activation when that is what differs).
    """
    a, b = mine.layers, ref.layers
    notes = [] if notes is None else notes
    culprit = {} if culprit is None else culprit
    marks: list[str | None] = [None] * max(len(a), len(b))
    n = min(len(a), len(b))
    for i in range(n):
        r, f = a[i], b[i]
        number = i + 1
        label = f.label
        if r.kind != f.kind and _same_full_connection(r, f):
            marks[i] = "✓"
            conv = r if r.kind == "conv" else f
            notes.append(f"note: layer {number} ({label}) is a {r.step.display} where the "
                         f"reference has a {f.step.display}: a "
                         f"{'×'.join(map(str, conv.step.attrs['kernel_size']))} convolution on "
                         f"{dims(conv.step.in_shape)} maps is a full connection, with the same "
                         f"{f.step.params:,} weights. Accepted.")
            continue
        culprit["step"] = r.step
        if r.kind == "unknown":
            same = same_as(f.step.module, r.step.module, r.step.sample)
            if not (same and same[0]):
                marks[i] = "✗"
                return i, _unknown_text(r, f, number, title, same), marks
            notes.append(f"note: layer {number} ({label}) is your {r.step.display}, which the "
                         f"checker does not read; on the input your model gives it, it outputs "
                         f"what {title}'s {label} does. Accepted.")
        elif r.kind != f.kind:
            marks[i] = "✗"
            return i, _kind_divergence(a, b, i, title), marks
        nxt = b[i + 1] if i + 1 < len(b) else None
        diffs = [] if r.kind == "unknown" else \
            attribute_differences(r, f, f"{title}'s {label}", nxt)
        shape_ok = r.step.out_shape == f.step.out_shape or (
            r.kind in ("maxpool", "avgpool") and (r.step.attrs.get("adaptive")
                                                 or f.step.attrs.get("adaptive"))
            and numel(r.step.out_shape) == numel(f.step.out_shape))
        params_ok = r.step.params == f.step.params
        if not shape_ok:
            marks[i] = "✗"
            text = (f"{_header(number, r)} outputs {dims(r.step.out_shape)}, expected "
                    f"{dims(f.step.out_shape)}")
            if r.step.in_shape != f.step.in_shape:
                text += (f"; its input is already {dims(r.step.in_shape)} instead of "
                         f"{dims(f.step.in_shape)}")
            if diffs:
                text += ": " + "; ".join(diffs)
            arithmetic = shape_arithmetic(r.step, f.step)
            if arithmetic:
                text += f" ({arithmetic})"
            return i, text + ".", marks
        if not params_ok:
            marks[i] = "✗"
            text = (f"{_header(number, r)} has {r.step.params:,} params, expected "
                    f"{f.step.params:,}")
            if diffs:
                groups_first = [d for d in diffs if d.startswith("groups=")]
                text = (f"{_header(number, r)}: " + "; ".join(groups_first)) if groups_first \
                    else text + ": " + "; ".join(diffs)
            return i, text + ".", marks
        identified = r.step.attrs.get("identified")
        if diffs:
            marks[i] = "✗"
            what = ("computes local response normalisation (read from its outputs on probe "
                    "inputs)" if identified else "has the right shape and parameters")
            return i, f"{_header(number, r)} {what}, but " + "; ".join(diffs) + ".", marks
        if r.after != f.after:
            marks[i] = "✗"
            missing_next = i + 1 < len(b) and (i + 1 >= len(a) or any(
                _aligned(a, b, i + 1, i + 1 + m) for m in (1, 2, 3)))
            if missing_next and (i + 1 >= len(a) or a[i + 1].kind != b[i + 1].kind):
                # A misplaced activation next to a missing layer: the missing layer is the cause.
                marks[i], marks[i + 1] = "✓", "✗"
                culprit["step"] = r.act_steps[0] if r.act_steps else r.step
                if i + 1 >= len(a):
                    return i + 1, _missing_text(b[i + 1:], i + 2, None, title), marks
                return i + 1, _kind_divergence(a, b, i + 1, title), marks
            if r.act_steps:
                culprit["step"] = r.act_steps[0]
            return i, _activation_divergence(a, b, i, title), marks
        marks[i] = "✓"
        if identified:
            notes.append(f"note: layer {number} ({label}) is your {r.step.display}, which the "
                         f"checker does not read; on probe inputs it computes {title}'s "
                         f"{_kind_text(f).removeprefix('a ')}. Accepted.")
    culprit.pop("step", None)
    if len(a) != len(b):
        i = n
        marks[i] = "✗"
        if mine.error is not None:
            return None, "", marks
        if len(a) < len(b):
            return i, _missing_text(b[i:], i + 1, None, title), marks
        extra = ", ".join(x.step.display for x in a[i:])
        return i, (f"your model goes on after layer {i} ({b[i - 1].label if i else 'input'}) "
                   f"with {extra}; {title} ends there."), marks
    return None, "", marks
