"""The line of the reader's code behind a layer: where it is built, else where it is called.

Found with ``inspect`` and ``ast`` in the class that builds the module. A line whose literal
arguments disagree with the module actually in place is not given: no pointer rather than one
at a line that builds something else.
"""

from __future__ import annotations

import ast
import inspect
import linecache
import re
import textwrap

from torch import nn

from ._steps import Layer, pair


def source_line(path_line: tuple[str, int] | None) -> str:
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
    if name != kind and not type(module).__module__.startswith(("torch.", "cnnlib.")):
        return False  # a helper's call, and the reader's own class in place: cannot tell
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
        elif pair(value) != pair(actual):
            return False
    return True


def layer_line(model, layer_or_step) -> str:
    """The line of the reader's code behind a layer: where it is built, else where it is called."""
    step = layer_or_step.step if isinstance(layer_or_step, Layer) else layer_or_step
    if not step.name:
        return source_line(step.line)
    found = _definition_line(model, step.name)
    if found:
        return found
    called = source_line(step.line)
    attr = step.name.split(".")[-1]
    return called if not attr.isdigit() and re.search(rf"\b{re.escape(attr)}\b", called) else ""
