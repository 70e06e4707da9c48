"""Checks on the whole model once every layer matched: batch, output, dropout, parameters."""

from __future__ import annotations

from ._steps import Trace, dims
from ._values import numel


def mixed_batch(mine: Trace) -> str:
    """A view/reshape that mixes images ('x.view(-1, 60)' on 120 values per image), explained."""
    for step in mine.steps:
        if step.kind == "flatten" and step.batch and step.batch[1] == 0:
            return (f"{step.display} flattens the batch dimension too: the {step.batch[0]} "
                    f"images become one long vector. Flatten per image: torch.flatten(x, 1) "
                    f"or x.view(x.size(0), -1)")
        if step.kind == "flatten" and step.batch and step.batch[0] != step.batch[1]:
            per_image = numel(step.in_shape)
            return (f"{step.display} turns the batch of {step.batch[0]} images into "
                    f"{step.batch[1]} rows of {numel(step.out_shape)} values, but each image "
                    f"has {dims(step.in_shape)} = {per_image:,}: rows now mix images. Flatten "
                    f"per image: torch.flatten(x, 1) or x.view(x.size(0), -1)")
    return ""


def whole_model_checks(mine: Trace, ref: Trace, title: str):
    """After every layer matched: batch, output, dropout, parameters held outside the forward.

    Returns (index, message, step to point at, note); index None when all is well.
    """
    n = len(ref.layers)
    mixed = mixed_batch(mine)
    if mixed:
        step = next(s for s in mine.steps if s.kind == "flatten" and s.batch[0] != s.batch[1])
        return n, mixed + ".", step, ""
    if mine.output_type != "Tensor":
        return (n, f"your forward returned {mine.output_type}, not a tensor: did you forget "
                   f"`return x`?", None, "")
    if mine.output_shape != ref.output_shape:
        return (n, f"your model outputs {dims(mine.output_shape)} per input; {title} outputs "
                   f"{dims(ref.output_shape)}.", None, "")
    index, message, step, note = _dropout_check(mine, ref, title)
    if message:
        return index, message, step, ""
    if mine.total_params != ref.total_params:
        unused = [f"{name} ({type(m).__name__})" for name, m in mine.unused
                  if sum(p.numel() for p in m.parameters())]
        text = (f"every layer matches, but your model holds {mine.total_params:,} parameters; "
                f"{title} {ref.total_params:,}")
        if unused:
            text += f": forward never calls {', '.join(unused)}"
        return n, text + ".", None, note
    return None, "", None, note


def _dropout_check(mine: Trace, ref: Trace, title: str):
    """Dropout: counts and rates must agree, positions may differ (then only a note).

    Returns (index of the layer after the first offending dropout, message, step, note).
    """
    a = [(i, s) for i, layer in enumerate(mine.layers) for s in layer.drop_steps]
    b = [(i, s) for i, layer in enumerate(ref.layers) for s in layer.drop_steps]
    for i, step in a:
        if step.attrs.get("on_in_eval"):
            return (i + 1, f"{step.display}(x, p) defaults to training=True, so your dropout "
                           f"stays on when the model is evaluated: use nn.Dropout, or pass "
                           f"training=self.training.", step, "")

    def where(items, layers):
        return ", ".join(f"before {layers[i + 1].label}" if i + 1 < len(layers) else
                         f"after {layers[i].label}" for i, _ in items)

    def rates(items):
        return ", ".join(f"{s.attrs['p']:g}" for _, s in items)
    if len(a) != len(b):
        if not b:
            return (a[0][0] + 1, f"your model has {len(a)} dropout layer(s) "
                                 f"({where(a, ref.layers)}); {title} has none.", a[0][1], "")
        first = next((k for k in range(len(b)) if k >= len(a) or a[k][0] != b[k][0]), 0)
        return (b[first][0] + 1, f"{title} uses {len(b)} dropout layer(s) (p={rates(b)}; "
                                 f"{where(b, ref.layers)}); yours has {len(a)}.", None, "")
    for (i, s), (_, t) in zip(a, b):
        if s.attrs["p"] != t.attrs["p"]:
            return (i + 1, f"dropout rates differ: yours p={rates(a)}; {title} p={rates(b)}.", s,
                    "")
    if [i for i, _ in a] != [i for i, _ in b]:
        return (None, "", None,
                f"note: your dropout sits {where(a, ref.layers)}; the reference's "
                f"{where(b, ref.layers)}. Accepted as a variant in common use (the AlexNet "
                f"paper drops the outputs of fc6 and fc7, torchvision's AlexNet their inputs), "
                f"but not the same network in training: other units are dropped. At test "
                f"time, with dropout off, the two compute the same function.")
    return None, "", None, ""
