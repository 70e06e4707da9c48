"""The verdict's pieces of text: a reference layer as code, and the side-by-side table."""

from __future__ import annotations

from ._steps import ACT_NAMES, Layer, dims
from ._values import fmt


def constructor(layer: Layer, compact: bool = False) -> str:
    """The reference layer as code: 'nn.Conv2d(6, 16, kernel_size=5) + ReLU → 16×10×10'.

    ``compact=True`` is the whiteboard form, kernel sizes positional and no output shape:
    'nn.Conv2d(6, 16, 5) + ReLU'.
    """
    step, a = layer.step, layer.step.attrs
    kernel = fmt(a.get("kernel_size", ""))
    if step.kind == "conv":
        args = [str(a["in_channels"]), str(a["out_channels"]),
                kernel if compact else f"kernel_size={kernel}"]
        for key, default in (("stride", (1, 1)), ("padding", (0, 0)), ("dilation", (1, 1)),
                             ("groups", 1), ("bias", True)):
            if a[key] != default:
                args.append(f"{key}={fmt(a[key])}")
        text = f"nn.Conv2d({', '.join(args)})"
    elif step.kind == "linear":
        text = f"nn.Linear({a['in_features']}, {a['out_features']}" + \
            (", bias=False)" if not a["bias"] else ")")
    elif step.kind == "bn":
        text = f"nn.BatchNorm2d({a['num_features']})"
    elif step.kind in ("maxpool", "avgpool"):
        name = "MaxPool2d" if step.kind == "maxpool" else "AvgPool2d"
        if a.get("adaptive"):
            text = f"nn.Adaptive{name}({fmt(a['output_size'])})"
        else:
            args = [kernel if compact else f"kernel_size={kernel}"]
            if not compact or a["stride"] != a["kernel_size"]:
                args.append(f"stride={fmt(a['stride'])}")
            if a["padding"] != (0, 0):
                args.append(f"padding={fmt(a['padding'])}")
            text = f"nn.{name}({', '.join(args)})"
    elif step.kind == "lrn":
        # cnnlib.layers' LRN takes the paper's alpha (on the sum of squares), not PyTorch's.
        text = (f"{'' if compact else 'cnnlib.layers.'}LocalResponseNorm({a['size']}, "
                f"alpha={a['alpha_sum']:g}, beta={a['beta']:g}, k={a['k']:g})")
    elif step.kind == "add":
        text = "out + identity"
    else:
        text = step.display
    acts = "".join(f" + {ACT_NAMES.get(x, x)}" for x in layer.after)
    drops = "".join(f" + Dropout({s.attrs['p']:g})" for s in layer.drop_steps)
    return f"{text}{acts}{drops}" + ("" if compact else f" → {dims(step.out_shape)}")


def _row_text(layer: Layer | None) -> tuple[str, str, str]:
    if layer is None:
        return "", "", ""
    return (("↳ " if layer.shortcut else "") + layer.describe(), dims(layer.step.out_shape),
            f"{layer.step.params:,}")


def table_text(mine: list[Layer], ref: list[Layer], marks: list[str | None], upto: int,
           start: int = 0) -> str:
    """The side-by-side table, rows ``start`` to ``upto`` (0-based, ``upto`` excluded)."""
    rows = []
    for i in range(start, min(upto, max(len(mine), len(ref)))):
        a = _row_text(mine[i] if i < len(mine) else None)
        b = _row_text(ref[i] if i < len(ref) else None)
        label = ref[i].label if i < len(ref) else ""
        rows.append((str(i + 1), *a, label, *b, marks[i] or ""))
    head = ("#", "yours", "shape", "params", "", "reference", "shape", "params", "")
    widths = [max(len(r[c]) for r in rows + [head]) for c in range(len(head))]
    right = {0, 3, 7}

    def line(r):
        return "  ".join(v.rjust(w) if c in right else v.ljust(w)
                         for c, (v, w) in enumerate(zip(r, widths))).rstrip()
    return "\n".join([line(head), "-" * len(line(head))] + [line(r) for r in rows])


def table_rows(mine: list[Layer], ref: list[Layer], marks: list) -> list[dict]:
    rows = []
    for i in range(max(len(mine), len(ref))):
        a = mine[i] if i < len(mine) else None
        b = ref[i] if i < len(ref) else None
        rows.append({
            "layer": i + 1, "label": b.label if b else "",
            "yours": a.describe() if a else None,
            "yours_shape": a.step.out_shape if a else None,
            "yours_params": a.step.params if a else None,
            "reference": b.describe() if b else None,
            "reference_shape": b.step.out_shape if b else None,
            "reference_params": b.step.params if b else None,
            "match": {"✓": True, "✗": False}.get(marks[i]) if i < len(marks) else None,
        })
    return rows
