"""A model that does not run: where it failed and why, without a traceback."""

from __future__ import annotations

from torch import nn

from ._source import layer_line, source_line
from ._steps import Layer, Step, Trace, dims
from ._values import numel
from ._whole_model import mixed_batch


def failure_text(trace_: Trace, ref: list[Layer], model) -> str:
    """'your model failed in ... after ...: <why>' without a traceback."""
    exc = trace_.error
    step = trace_.failed_step
    msg = exception_message(exc)
    kind = type(exc).__name__
    last = trace_.steps[-1] if trace_.steps else None
    if last is not None:
        out = "one vector" if last.kind == "flatten" and not last.out_shape else \
            dims(last.out_shape)
        pos = f"after {last.display} → {out}"
        compared = [i for i, layer in enumerate(trace_.layers) if layer.step is last]
        if compared:
            pos = f"after layer {compared[0] + 1} ({last.display} → {dims(last.out_shape)})"
    else:
        pos = "before its first layer"
    why = ""
    if step is not None:
        why = _explain_failure(step, trace_, ref, msg)
    where = ""
    line = layer_line(model, step) if step is not None and step.name else ""
    if step is not None and step.kind == "linear" and mixed_batch(trace_):
        line = source_line(next(s.line for s in trace_.steps if s.kind == "flatten"
                           and s.batch[0] != s.batch[1]))
    if not line:
        line = source_line(trace_.failed_line)
    if line:
        where = f"\n  your line: {line}"
    failed = "failed"
    if isinstance(exc, KeyboardInterrupt):  # Ctrl-C while it ran, or raised by the code
        failed, msg = "was interrupted", msg or "Ctrl-C, or raised by your code"
    head = f"your model {failed} {pos}: {kind}" + (f": {msg}" if msg else "") if not why else \
        f"your model {failed} {pos}: {why}"
    return head + where


def exception_message(exc: BaseException, limit: int = 300) -> str:
    """The first line of an exception's message, at most ``limit`` characters, whatever the
    exception does: a ``__str__`` that raises or returns a non-string is reported as such."""
    try:
        text = str(exc)
    except BaseException as error:  # noqa: B036 the reader's own exception class
        return (f"(its message could not be read: str() raised "
                f"{type(error).__name__})")
    lines = text.strip().splitlines()
    first = lines[0] if lines else ""
    if len(first) > limit:
        first = f"{first[:limit]}… ({len(first) - limit:,} more characters)"
    return first


def _explain_failure(step: Step, trace_: Trace, ref: list[Layer], msg: str) -> str:
    """Why the step that raised did so, from its input and attributes ('' if not recognised)."""
    full = step.attrs.get("input_full")
    flat = next((s for s in reversed(trace_.steps) if s.kind == "flatten"), None)
    if step.kind == "linear" and full is not None and mixed_batch(trace_):
        return mixed_batch(trace_)
    if step.kind == "linear" and full is not None:
        got = full[-1]
        want = step.attrs["in_features"]
        if len(full) > 2:
            return (f"{step.display}({want} → {step.attrs['out_features']}) received a "
                    f"{len(full)}-D tensor {dims(full[1:])}: flatten the maps first "
                    f"(torch.flatten(x, 1) or nn.Flatten())")
        if got != want:
            source = ""
            if flat is not None:
                source = (f": the layers before it output {dims(flat.in_shape)} = "
                          f"{numel(flat.in_shape):,} per image")
            return (f"{step.display} expected {want} inputs, got {got}{source}. Use "
                    f"nn.Linear({got}, {step.attrs['out_features']}), or fix the layers before "
                    f"it so they give the {want} you planned")
    if step.kind == "conv" and full is not None and len(full) == 4:
        if full[1] != step.attrs["in_channels"]:
            return (f"{step.display} expects {step.attrs['in_channels']} input channels "
                    f"(in_channels), but the layer before it outputs {full[1]} maps: its "
                    f"in_channels must equal the previous layer's out_channels")
        k, p = step.attrs["kernel_size"][0], step.attrs["padding"][0]
        if full[2] + 2 * p < k:
            return (f"{step.display}'s {k}×{k} kernel no longer fits its {full[2]}×{full[3]} "
                    f"input (padding {p}): the maps shrank too much before it; check the "
                    f"padding and strides of the layers above")
    if step.kind == "bn" and full is not None and full[1] != step.attrs["num_features"]:
        return (f"{step.display}({step.attrs['num_features']}) receives {full[1]} channels: "
                f"BatchNorm's num_features must equal the out_channels of the conv before it")
    if step.kind in ("maxpool", "avgpool") and full is not None and len(full) == 4:
        k = step.attrs.get("kernel_size", (0, 0))[0]
        if k and full[2] + 2 * step.attrs["padding"][0] < k:
            return (f"{step.display}'s {k}×{k} window no longer fits its {full[2]}×{full[3]} "
                    f"input: the maps shrank too much before it")
    if step.kind == "add":
        shapes = step.attrs.get("shapes", [])
        text = "the residual addition failed: "
        if len(shapes) >= 2:
            text += (f"the two sides have shapes {dims(shapes[0][1:])} and "
                     f"{dims(shapes[1][1:])}. ")
        projection = next((x for x in ref if x.shortcut and x.kind == "conv"), None)
        if projection is not None:
            text += ("The shortcut has no projection: when stride=2 or the channels change, x "
                     "must go through a 1×1 conv (stride 2) + BN before the addition")
            unused = [n for n, m in trace_.unused if isinstance(m, nn.Conv2d)]
            if unused:
                text += f" (you define {', '.join(unused)}, but forward never calls it)"
        else:
            text += ("this block keeps its input's shape, so the main path must too "
                     "(stride 1, same channels)")
        return text
    if step.kind == "flatten":
        shapes = step.attrs.get("shapes", [])
        if shapes:
            per_image = numel(shapes[0][1:])
            return (f"{step.display} could not reshape {dims(shapes[0])}: {msg}. The layers "
                    f"before it output {dims(shapes[0][1:])} = {per_image:,} per image; "
                    f"torch.flatten(x, 1) works for any size")
    return ""
