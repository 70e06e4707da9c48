"""Cheat sheets from the references: what to write, layer by layer, and the shapes on the way.

Generated from the same recorded forward pass the checker compares with, so a sheet can never
disagree with the verdict.
"""

from __future__ import annotations

from ._report import constructor
from ._references import get_reference, reference_trace
from ._steps import Layer, dims


def shape_ladder(name: str) -> str:
    """'input 1×32×32 → C1 6×28×28 → ...': the shapes to aim for, without the layers."""
    spec = get_reference(name)
    ref = reference_trace(name)
    steps = [f"{layer.label} {dims(layer.step.out_shape)}" for layer in ref.layers
             if layer.kind in ("conv", "linear", "maxpool", "avgpool") and not layer.shortcut]
    return f"{spec.short}: input {dims(spec.input_size)} → " + " → ".join(steps)


def _block_key(layer: Layer) -> str | None:
    """'layer1.0' for 'layer1.0.conv1': layers three names deep belong to a residual block."""
    parts = layer.step.name.split(".")
    return ".".join(parts[:2]) if len(parts) >= 3 else None


def _block_row(key: str, layers: list[Layer]) -> tuple[str, str, str, int]:
    """One row for a residual block: 'block 3×3 + 3×3, 64 → 128, stride 2, projection'."""
    convs = [x for x in layers if x.kind == "conv" and not x.shortcut]
    kernels = " + ".join("×".join(map(str, x.step.attrs["kernel_size"])) for x in convs)
    stride = max(x.step.attrs["stride"][0] for x in convs)
    text = (f"block {kernels}, {convs[0].step.attrs['in_channels']} → "
            f"{convs[-1].step.attrs['out_channels']}")
    if stride > 1:
        text += f", stride {stride}"
    if any(x.shortcut and x.kind == "conv" for x in layers):
        text += ", projection"
    return key, text, dims(layers[-1].step.out_shape), sum(x.step.params for x in layers)


def layer_sheet(name: str, blocks: bool = True) -> str:
    """The reference as a table: layer | PyTorch (whiteboard form) | output | params, and total.

    With ``blocks=True`` the layers of each residual block of a whole ResNet are one row.
    """
    spec = get_reference(name)
    ref = reference_trace(name)
    rows: list[tuple[str, str, str, int]] = []
    group: list[Layer] = []
    key = None

    def close():
        if group:
            rows.append(_block_row(key, group))
            group.clear()
    for layer in ref.layers:
        k = _block_key(layer) if blocks else None
        if blocks and layer.kind == "add" and group:
            k = key  # the addition belongs to the block it ends
        if k is not None:
            if k != key:
                close()
                key = k
            group.append(layer)
            continue
        close()
        key = None
        rows.append((("↳ " if layer.shortcut else "") + layer.label,
                     constructor(layer, compact=True), dims(layer.step.out_shape),
                     layer.step.params))
    close()
    head = ("layer", "PyTorch", "output", "params")
    cells = [(label, text, shape, f"{params:,}") for label, text, shape, params in rows]
    cells.append(("", "total", "", f"{ref.total_params:,}"))
    widths = [max(len(r[i]) for r in cells + [head]) for i in range(4)]

    def line(r):
        return (f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  "
                f"{r[3]:>{widths[3]}}").rstrip()
    lines = [f"{spec.title}, input {dims(spec.input_size)}", line(head),
             "-" * len(line(head))]
    return "\n".join(lines + [line(r) for r in cells])
