"""Comparing two traces layer by layer, and saying in plain words what differs and why."""

from __future__ import annotations

import ast
import inspect
import linecache
import re
import textwrap

from torch import nn

from ._trace import _ACT_NAMES, _KIND_NAMES, Layer, Step, Trace, _dims, _pair


def _where(path_line: tuple[str, int] | None) -> str:
    """The text of a (file, line) of the reader's code; notebook cells are in linecache too."""
    return linecache.getline(*path_line).strip() if path_line else ""


def _definition_line(model: nn.Module, qualname: str) -> str:
    """The source line that builds module ``qualname`` of ``model``, best effort ('' if unknown).

    ``self.conv2 = nn.Conv2d(...)`` for an attribute; for a member of an ``nn.Sequential`` built
    in ``__init__``, the line inside the ``nn.Sequential(...)`` that holds that member. A line
    whose literal arguments disagree with the module (replaced after construction) is not given.
    """
    if not qualname or model is None:
        return ""
    parts = qualname.split(".")
    modules = [model]
    for p in parts:
        modules.append(getattr(modules[-1], p, None) if not p.isdigit() else modules[-1][int(p)])
        if modules[-1] is None:
            return ""
    # The innermost class written by the reader that holds this module as an attribute.
    for depth in range(len(parts) - 1, -1, -1):
        owner, attr = modules[depth], parts[depth]
        if attr.isdigit() or type(owner).__module__.startswith("torch."):
            continue
        if not all(p.isdigit() for p in parts[depth + 1:]):
            return ""
        indices = [int(p) for p in parts[depth + 1:]]
        return _find_in_init(type(owner), attr, indices, modules[-1])
    return ""


def _find_in_init(cls, attr: str, indices: list[int], module: nn.Module) -> str:
    """The line of ``cls.__init__`` that builds ``self.<attr>[i][j]...``, read with ``ast``."""
    try:
        lines, _ = inspect.getsourcelines(cls.__init__)
        tree = ast.parse(textwrap.dedent("".join(lines)))
    except (OSError, TypeError, SyntaxError):
        return ""
    for node in ast.walk(tree):
        targets = node.targets if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, ast.AnnAssign) else []
        if not any(isinstance(t, ast.Attribute) and t.attr == attr and
                   isinstance(t.value, ast.Name) and t.value.id == "self" for t in targets):
            continue
        call = node.value
        for index in indices:  # down into nn.Sequential(...) arguments
            if not (isinstance(call, ast.Call) and _call_name(call) == "Sequential") or \
                    any(isinstance(a, ast.Starred) for a in call.args[:index + 1]) or \
                    index >= len(call.args):
                return ""
            call = call.args[index]
        if isinstance(call, ast.Call) and _call_agrees(call, module):
            return lines[call.lineno - 1].strip()
        return ""
    return ""


def _call_name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


# Constructor parameters in order with their defaults (None: required), for the literal check.
_SIGNATURES = {
    "Conv2d": (("in_channels", None), ("out_channels", None), ("kernel_size", None),
               ("stride", 1), ("padding", 0), ("dilation", 1), ("groups", 1), ("bias", True)),
    "Linear": (("in_features", None), ("out_features", None), ("bias", True)),
    "BatchNorm2d": (("num_features", None),),
    "MaxPool2d": (("kernel_size", None), ("stride", None), ("padding", 0)),
    "AvgPool2d": (("kernel_size", None), ("stride", None), ("padding", 0)),
    "Dropout": (("p", 0.5),),
}


def _call_agrees(call: ast.Call, module: nn.Module) -> bool:
    """False if the call builds another class, or its literal (or default) arguments differ."""
    name, kind = _call_name(call), type(module).__name__
    if name[:1].isupper() and name != kind:
        return False
    if isinstance(call.func, ast.Attribute) and getattr(call.func.value, "id", "") == "nn" \
            and not type(module).__module__.startswith("torch."):
        return False  # nn.LocalResponseNorm(...) written, another LocalResponseNorm in place
    if any(isinstance(a, ast.Starred) for a in call.args) or \
            any(k.arg is None for k in call.keywords):
        return True  # *args or **kwargs: cannot tell
    signature = _SIGNATURES.get(kind, ())
    given = {param: node for (param, _), node in zip(signature, call.args)}
    given.update({k.arg: k.value for k in call.keywords})
    for param, default in signature:
        if param in given:
            try:
                value = ast.literal_eval(given[param])
            except (ValueError, SyntaxError):
                continue  # a variable: cannot tell
        elif default is None:
            continue
        else:
            value = default
        actual = getattr(module, param, None)
        if param == "bias" and kind in ("Conv2d", "Linear"):
            actual = module.bias is not None
        if param == "stride" and value is None:
            continue
        if actual is None or isinstance(actual, str) or isinstance(value, str):
            if value != actual and actual is not None:
                return False
            continue
        if isinstance(value, bool) or isinstance(actual, bool) or isinstance(value, float):
            if value != actual:
                return False
        elif _pair(value) != _pair(actual):
            return False
    return True


def _layer_line(model, layer_or_step) -> str:
    """The line of the reader's code behind a layer: where it is built, else where it is called."""
    step = layer_or_step.step if isinstance(layer_or_step, Layer) else layer_or_step
    if not step.name:
        return _where(step.line)
    found = _definition_line(model, step.name)
    if found:
        return found
    called = _where(step.line)
    attr = step.name.split(".")[-1]
    return called if not attr.isdigit() and re.search(rf"\b{re.escape(attr)}\b", called) else ""


def _size_formula(n: int, k: int, s: int, p: int, d: int = 1) -> str:
    """The book's output-size formula with the numbers in: '⌊(27 + 2·2 − 5)/2⌋ + 1 = 14'."""
    k_eff = d * (k - 1) + 1
    out = (n + 2 * p - k_eff) // s + 1
    pad = f" + 2·{p}" if p else ""
    if s == 1:
        return f"{n}{pad} − {k_eff} + 1 = {out}"
    return f"⌊({n}{pad} − {k_eff})/{s}⌋ + 1 = {out}"


def _fmt(v) -> str:
    if isinstance(v, tuple) and len(v) == 2 and v[0] == v[1]:
        return str(v[0])
    if isinstance(v, tuple):
        return "×".join(map(str, v))
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _conv_differences(mine: Step, ref: Step, label: str, next_ref: Layer | None) -> list[str]:
    a, b = mine.attrs, ref.attrs
    out = []
    kernel = "×".join(map(str, b["kernel_size"]))
    if a["kernel_size"] != b["kernel_size"]:
        out.append(f"this conv has a {'×'.join(map(str, a['kernel_size']))} kernel; "
                   f"{label} has {kernel}")
    if a["stride"] != b["stride"]:
        out.append(f"this conv uses stride={_fmt(a['stride'])}; {label} uses "
                   f"{'stride ' + _fmt(b['stride']) if b['stride'] != (1, 1) else 'stride 1'}")
    if a["padding"] != b["padding"]:
        if a["padding"] == (0, 0):
            out.append(f"this conv has no padding; {label} uses padding={_fmt(b['padding'])} "
                       f"(per side)")
        else:
            theirs = "none" if b["padding"] == (0, 0) else f"padding={_fmt(b['padding'])}"
            out.append(f"this conv uses padding={_fmt(a['padding'])}; {label} uses {theirs}")
    if a["dilation"] != b["dilation"]:
        out.append(f"this conv uses dilation={_fmt(a['dilation'])}; {label} uses "
                   f"{_fmt(b['dilation'])}")
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
        if mine.out_shape != ref.out_shape and _numel(mine.out_shape) == _numel(ref.out_shape):
            return []
        return [f"this pool outputs {_dims(mine.out_shape)}; {label} outputs "
                f"{_dims(ref.out_shape)}"] if mine.out_shape != ref.out_shape else []
    out = []
    for key, what in (("kernel_size", "window"), ("stride", "stride"), ("padding", "padding")):
        if a[key] != b[key]:
            out.append(f"this pool's {what} is {_fmt(a[key])}; {label}'s is {_fmt(b[key])}")
    if a["ceil_mode"] != b["ceil_mode"]:
        out.append(f"this pool uses ceil_mode={a['ceil_mode']}; {label} uses "
                   f"ceil_mode={b['ceil_mode']}")
    return out


def _lrn_differences(mine: Step, ref: Step, label: str) -> list[str]:
    a, b = mine.attrs, ref.attrs
    out = []
    if a["size"] != b["size"]:
        out.append(f"this LRN sums over size={a['size']} channels; {label} over {b['size']}")
    if abs(a["alpha_sum"] - b["alpha_sum"]) > 1e-6 * max(abs(b["alpha_sum"]), 1e-12):
        text = (f"this LRN's α on the sum of squares is {a['alpha_sum']:.3g}; {label}'s is "
                f"{b['alpha_sum']:.3g}")
        if a.get("torch"):
            text += (f". nn.LocalResponseNorm divides alpha by size (it averages the squares): "
                     f"pass alpha={b['alpha_sum'] * a['size']:g} to get the paper's "
                     f"α = {b['alpha_sum']:g}")
        out.append(text)
    for key in ("beta", "k"):
        if abs(a[key] - b[key]) > 1e-9:
            out.append(f"this LRN uses {key}={a[key]:g}; {label} uses {key}={b[key]:g}")
    return out


def _numel(shape) -> int:
    n = 1
    for s in shape or ():
        n *= s
    return n


def _attribute_differences(mine: Layer, ref: Layer, label: str,
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


def _shape_arithmetic(mine: Step, ref: Step) -> str:
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


def _kind_text(layer: Layer) -> str:
    return _KIND_NAMES.get(layer.kind, layer.kind)


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
                f"(stride {_fmt(first.step.attrs['stride'])}) + BN before the addition "
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
        a = first.step.attrs
        if not a.get("adaptive"):
            text += (f". Without this {'×'.join(map(str, a['kernel_size']))} pool (stride "
                     f"{_fmt(a['stride'])}) the maps stay {_dims(first.step.in_shape)} instead "
                     f"of shrinking to {_dims(first.step.out_shape)}")
    return text + "."


def _activation_names(acts: tuple[str, ...]) -> str:
    return " then ".join(_ACT_NAMES.get(a, a) for a in acts) or "nothing"


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


def _constructor(layer: Layer, compact: bool = False) -> str:
    """The reference layer as code: 'nn.Conv2d(6, 16, kernel_size=5) + ReLU → 16×10×10'.

    ``compact=True`` is the whiteboard form, kernel sizes positional and no output shape:
    'nn.Conv2d(6, 16, 5) + ReLU'.
    """
    step, a = layer.step, layer.step.attrs
    kernel = _fmt(a.get("kernel_size", ""))
    if step.kind == "conv":
        args = [str(a["in_channels"]), str(a["out_channels"]),
                kernel if compact else f"kernel_size={kernel}"]
        for key, default in (("stride", (1, 1)), ("padding", (0, 0)), ("dilation", (1, 1)),
                             ("groups", 1), ("bias", True)):
            if a[key] != default:
                args.append(f"{key}={_fmt(a[key])}")
        text = f"nn.Conv2d({', '.join(args)})"
    elif step.kind == "linear":
        text = f"nn.Linear({a['in_features']}, {a['out_features']}" + \
            (", bias=False)" if not a["bias"] else ")")
    elif step.kind == "bn":
        text = f"nn.BatchNorm2d({a['num_features']})"
    elif step.kind in ("maxpool", "avgpool"):
        name = "MaxPool2d" if step.kind == "maxpool" else "AvgPool2d"
        if a.get("adaptive"):
            text = f"nn.Adaptive{name}({_fmt(a['output_size'])})"
        else:
            args = [kernel if compact else f"kernel_size={kernel}"]
            if not compact or a["stride"] != a["kernel_size"]:
                args.append(f"stride={_fmt(a['stride'])}")
            if a["padding"] != (0, 0):
                args.append(f"padding={_fmt(a['padding'])}")
            text = f"nn.{name}({', '.join(args)})"
    elif step.kind == "lrn":
        # cnnlib.layers' LRN takes the paper's alpha (on the sum of squares), not PyTorch's.
        text = (f"{'' if compact else 'cnnlib.layers.'}LocalResponseNorm({a['size']}, "
                f"alpha={a['alpha_sum']:g}, beta={a['beta']:g}, k={a['k']:g})")
    elif step.kind == "add":
        text = "out + identity"
    else:
        text = step.display
    acts = "".join(f" + {_ACT_NAMES.get(x, x)}" for x in layer.after)
    drops = "".join(f" + Dropout({s.attrs['p']:g})" for s in layer.drop_steps)
    return f"{text}{acts}{drops}" + ("" if compact else f" → {_dims(step.out_shape)}")


def _row_text(layer: Layer | None) -> tuple[str, str, str]:
    if layer is None:
        return "", "", ""
    return (("↳ " if layer.shortcut else "") + layer.describe(), _dims(layer.step.out_shape),
            f"{layer.step.params:,}")


def _table(mine: list[Layer], ref: list[Layer], marks: list[str | None], upto: int,
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


def _failure_text(trace_: Trace, ref: list[Layer], model) -> str:
    """'your model failed in ... after ...: <why>' without a traceback."""
    exc = trace_.error
    step = trace_.failed_step
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    kind = type(exc).__name__
    last = trace_.steps[-1] if trace_.steps else None
    if last is not None:
        out = "one vector" if last.kind == "flatten" and not last.out_shape else \
            _dims(last.out_shape)
        pos = f"after {last.display} → {out}"
        compared = [i for i, layer in enumerate(trace_.layers) if layer.step is last]
        if compared:
            pos = f"after layer {compared[0] + 1} ({last.display} → {_dims(last.out_shape)})"
    else:
        pos = "before its first layer"
    why = ""
    if step is not None:
        why = _explain_failure(step, trace_, ref, msg)
    where = ""
    line = _layer_line(model, step) if step is not None and step.name else ""
    if step is not None and step.kind == "linear" and _mixed_batch(trace_):
        line = _where(next(s.line for s in trace_.steps if s.kind == "flatten"
                           and s.batch[0] != s.batch[1]))
    if not line:
        line = _where(trace_.failed_line)
    if line:
        where = f"\n  your line: {line}"
    head = f"your model failed {pos}: {kind}: {msg}" if not why else \
        f"your model failed {pos}: {why}"
    return head + where


def _explain_failure(step: Step, trace_: Trace, ref: list[Layer], msg: str) -> str:
    """Why the step that raised did so, from its input and attributes ('' if not recognised)."""
    full = step.attrs.get("input_full")
    flat = next((s for s in reversed(trace_.steps) if s.kind == "flatten"), None)
    if step.kind == "linear" and full is not None and _mixed_batch(trace_):
        return _mixed_batch(trace_)
    if step.kind == "linear" and full is not None:
        got = full[-1]
        want = step.attrs["in_features"]
        if len(full) > 2:
            return (f"{step.display}({want} → {step.attrs['out_features']}) received a "
                    f"{len(full)}-D tensor {_dims(full[1:])}: flatten the maps first "
                    f"(torch.flatten(x, 1) or nn.Flatten())")
        if got != want:
            source = ""
            if flat is not None:
                source = (f": the layers before it output {_dims(flat.in_shape)} = "
                          f"{_numel(flat.in_shape):,} per image")
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
            text += (f"the two sides have shapes {_dims(shapes[0][1:])} and "
                     f"{_dims(shapes[1][1:])}. ")
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
            per_image = _numel(shapes[0][1:])
            return (f"{step.display} could not reshape {_dims(shapes[0])}: {msg}. The layers "
                    f"before it output {_dims(shapes[0][1:])} = {per_image:,} per image; "
                    f"torch.flatten(x, 1) works for any size")
    return ""


def _same_full_connection(r: Layer, f: Layer) -> bool:
    """A conv whose kernel covers its whole input (LeNet-5's C5) is a Linear on flattened maps."""
    conv, linear = (r, f) if r.kind == "conv" else (f, r)
    if {r.kind, f.kind} != {"conv", "linear"} or r.after != f.after:
        return False
    c, fc = conv.step.attrs, linear.step.attrs
    spatial = tuple(conv.step.in_shape[1:]) if conv.step.in_shape else None
    return (c["padding"] == (0, 0) and c["groups"] == 1 and c["dilation"] == (1, 1)
            and spatial == c["kernel_size"] and c["bias"] == fc["bias"]
            and fc["in_features"] == c["in_channels"] * _numel(spatial)
            and fc["out_features"] == c["out_channels"])


def _compare(mine: Trace, ref: Trace, title: str, notes: list | None = None,
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
                         f"{_dims(conv.step.in_shape)} maps is a full connection, with the same "
                         f"{f.step.params:,} weights. Accepted.")
            continue
        culprit["step"] = r.step
        if r.kind != f.kind:
            marks[i] = "✗"
            return i, _kind_divergence(a, b, i, title), marks
        nxt = b[i + 1] if i + 1 < len(b) else None
        diffs = _attribute_differences(r, f, f"{title}'s {label}", nxt)
        shape_ok = r.step.out_shape == f.step.out_shape or (
            r.kind in ("maxpool", "avgpool") and (r.step.attrs.get("adaptive")
                                                 or f.step.attrs.get("adaptive"))
            and _numel(r.step.out_shape) == _numel(f.step.out_shape))
        params_ok = r.step.params == f.step.params
        if not shape_ok:
            marks[i] = "✗"
            text = (f"{_header(number, r)} outputs {_dims(r.step.out_shape)}, expected "
                    f"{_dims(f.step.out_shape)}")
            if r.step.in_shape != f.step.in_shape:
                text += (f"; its input is already {_dims(r.step.in_shape)} instead of "
                         f"{_dims(f.step.in_shape)}")
            if diffs:
                text += ": " + "; ".join(diffs)
            arithmetic = _shape_arithmetic(r.step, f.step)
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
        if diffs:
            marks[i] = "✗"
            return i, (f"{_header(number, r)} has the right shape and parameters, but "
                       + "; ".join(diffs) + "."), marks
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


def _mixed_batch(mine: Trace) -> str:
    """A view/reshape that mixes images ('x.view(-1, 60)' on 120 values per image), explained."""
    for step in mine.steps:
        if step.kind == "flatten" and step.batch and step.batch[1] == 0:
            return (f"{step.display} flattens the batch dimension too: the {step.batch[0]} "
                    f"images become one long vector. Flatten per image: torch.flatten(x, 1) "
                    f"or x.view(x.size(0), -1)")
        if step.kind == "flatten" and step.batch and step.batch[0] != step.batch[1]:
            per_image = _numel(step.in_shape)
            return (f"{step.display} turns the batch of {step.batch[0]} images into "
                    f"{step.batch[1]} rows of {_numel(step.out_shape)} values, but each image "
                    f"has {_dims(step.in_shape)} = {per_image:,}: rows now mix images. Flatten "
                    f"per image: torch.flatten(x, 1) or x.view(x.size(0), -1)")
    return ""


def _whole_model_checks(mine: Trace, ref: Trace, title: str):
    """After every layer matched: batch, output, dropout, parameters held outside the forward.

    Returns (index, message, step to point at, note); index None when all is well.
    """
    n = len(ref.layers)
    mixed = _mixed_batch(mine)
    if mixed:
        step = next(s for s in mine.steps if s.kind == "flatten" and s.batch[0] != s.batch[1])
        return n, mixed + ".", step, ""
    if mine.output_type != "Tensor":
        return (n, f"your forward returned {mine.output_type}, not a tensor: did you forget "
                   f"`return x`?", None, "")
    if mine.output_shape != ref.output_shape:
        return (n, f"your model outputs {_dims(mine.output_shape)} per input; {title} outputs "
                   f"{_dims(ref.output_shape)}.", None, "")
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
                f"{where(b, ref.layers)}. Accepted: the paper and torchvision place it "
                f"differently, and both regularise the same fully connected layers.")
    return None, "", None, ""


def _rows(mine: list[Layer], ref: list[Layer], marks: list) -> list[dict]:
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
