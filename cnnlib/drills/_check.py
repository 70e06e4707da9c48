"""``check``: run the reader's model and the reference, and print the verdict.

The comparing and the explaining are done by the modules it calls; this one puts the verdict
together: the first difference, the lines of code it concerns, and part of the table.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

from torch import nn

from .._args import whole_number
from ._compare import compare
from ._failures import failure_text
from ._outputs import output_difference
from ._references import Reference, get_reference, reference_trace
from ._report import constructor, table_rows, table_text
from ._source import layer_line
from ._steps import Trace, dims
from ._trace import trace
from ._whole_model import whole_model_checks


@dataclass
class DrillResult:
    """The verdict of :func:`check`. ``ok``; ``first_divergence`` = (layer number, message) or
    None; ``rows`` = the side-by-side table as dicts; ``notes`` = accepted differences."""

    ok: bool
    reference: str
    first_divergence: tuple[int, str] | None
    rows: list[dict]
    notes: list[str]
    text: str

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return self.text

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(self.text)


def _input_size(reference: Reference, input_size) -> tuple:
    if input_size is None:
        return tuple(reference.input_size)
    expected = f"input_size is C×H×W (or N×C×H×W), whole numbers >= 1, got {input_size!r}"
    if isinstance(input_size, (str, bytes)) or not hasattr(input_size, "__len__") or \
            len(input_size) not in (3, 4):
        raise ValueError(expected)
    try:
        size = tuple(whole_number("input_size", s, 1) for s in input_size)
    except ValueError:  # NotAWholeNumberError is one too
        raise ValueError(f"{expected}: e.g. {tuple(reference.input_size)}, the reference's "
                         "own") from None
    return size[-3:]


def check(model, reference: str, input_size=None, verbose: bool = True) -> DrillResult:
    """Compare ``model`` with the book's ``reference`` layer by layer; print and return the verdict.

    ``reference`` is a name from :func:`list_references` ("lenet5", "alexnet_paper", ...).
    Both models run on the same seeded batch of 2 inputs of ``input_size`` (C×H×W; default: the
    reference's own). A model that fails to run is reported, not raised: the message names the
    exception, the last layer that ran and, where it can, the line of your code to fix.
    """
    spec = get_reference(reference)
    size = _input_size(spec, input_size)
    if model is None:
        text = f"No model yet: write your {spec.short} above, then run this cell again."
        return _finish(DrillResult(False, reference, None, [], [], text), verbose)
    if isinstance(model, type) and issubclass(model, nn.Module):
        try:
            model = model()
        except TypeError as exc:
            raise TypeError(f"check() got the class {model.__name__}; pass an instance, e.g. "
                            f"{model.__name__}(): {exc}") from None
    if not isinstance(model, nn.Module):
        raise TypeError(f"check() expects an nn.Module (or None before you have written it), "
                        f"got {type(model).__name__}")
    ref = reference_trace(reference, size)
    mine = trace(model, size)
    notes: list[str] = []
    culprit: dict = {}
    index, message, marks = compare(mine, ref, spec.short, notes, culprit)
    if mine.error is None and index is None:
        index, message, step, note = whole_model_checks(mine, ref, spec.short)
        if step is not None:
            culprit["step"] = step
        if note:
            notes.append(note)
    values = ""
    if mine.error is None and index is None and spec.compare_outputs:
        difference = output_difference(model, mine, spec.build(), ref, size)
        if difference is None:
            notes.append("note: your layers could not be given the reference's weights (a "
                         "layer written as a function?), so the output values were not "
                         "compared: only the layers and the output's shape.")
        elif difference:
            index, message = len(ref.layers), difference
        else:
            values = ("; with the reference's weights copied in, the same output values "
                      "(so the branches are stacked in the right order)")
    ok = mine.error is None and index is None
    rows = table_rows(mine.layers, ref.layers, marks)
    name = type(model).__name__
    if ok:
        text = (f"✓ {name} matches {spec.title}: {len(ref.layers)} layers, "
                f"{mine.total_params:,} parameters, output {dims(mine.output_shape)} for an "
                f"input of {dims(size)}{values}.")
        text += "".join(f"\n  {n}" for n in notes)
        return _finish(DrillResult(True, reference, None, rows, notes, _wrap(text)), verbose)

    lines = []
    if mine.error is not None:
        failure = failure_text(mine, ref.layers, model)
        lines += [f"✗ {name} does not run on a {dims(size)} input.", f"  {failure}"]
        if index is not None:
            lines.append(f"  The likely cause comes earlier, the first difference from "
                         f"{spec.short}: {message}")
            lines += _pointers(model, culprit, ref, index, spec, message)
        elif mine.layers:
            lines.append(f"  Up to there, your layers match {spec.short}'s.")
        first = (index + 1, message) if index is not None else (len(mine.layers) + 1, failure)
    else:
        at = (f"layer {index + 1} ({ref.layers[index].label})" if index < len(ref.layers)
              else "its output")
        lines += [f"✗ {name} differs from {spec.title} at {at}:", f"  {message}"]
        lines += _pointers(model, culprit, ref, index, spec, message)
        first = (index + 1, message)
    alt = _alternative(mine, spec, size)
    if alt:
        lines.append(f"  Your model matches {alt.title} instead: check it with "
                     f"reference={alt.name!r}.")
    # The table: from a few rows before the first difference to two rows after it.
    upto = min(first[0] + 2, len(marks))
    start = max(0, first[0] - 6)
    if marks:
        lines.append("")
        if start:
            lines.append(f"... ({start} matching rows before)")
        lines.append(table_text(mine.layers, ref.layers, marks, upto, start))
        if upto < len(marks):
            lines.append(f"... ({len(marks) - upto} more rows in result.rows)")
    return _finish(DrillResult(False, reference, first, rows, notes, _wrap("\n".join(lines))),
                   verbose)


def _pointers(model, culprit: dict, ref: Trace, index: int, spec: Reference,
              message: str) -> list[str]:
    """'your line: ...', 'reference: ...' and 'remember: ...' lines under a difference."""
    lines = []
    line = layer_line(model, culprit["step"]) if "step" in culprit else ""
    if line:
        lines.append(f"  your line: {line}")
    if index < len(ref.layers):
        lines.append(f"  reference: {constructor(ref.layers[index])}")
        hint = spec.hint(ref.layers[index].label, message)
        if hint:
            lines.append(f"  remember: {hint}")
    return lines


def _alternative(mine: Trace, spec: Reference, size: tuple) -> Reference | None:
    if mine.error is not None:
        return None
    for name in spec.alternatives:
        alt = get_reference(name)
        if tuple(alt.input_size) != size:
            continue
        index, _, _ = compare(mine, reference_trace(name, size), alt.short)
        if index is None:
            return alt
    return None


def _wrap(text: str, width: int = 92) -> str:
    """Wrap the verdict's prose lines to the book's column; tables and code stay as they are."""
    out = []
    for line in text.splitlines():
        if len(line) <= width or not line.startswith("  ") or \
                line.startswith(("  your line:", "  reference:")):  # code stays on one line
            out.append(line)
        else:
            out.append(textwrap.fill(line, width, subsequent_indent="    ",
                                     break_on_hyphens=False))
    return "\n".join(out)


def _finish(result: DrillResult, verbose: bool) -> DrillResult:
    if verbose:
        print(result.text)
    return result
