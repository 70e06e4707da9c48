"""Interview questions that never run out: drawn from a seed, answered by the book's formulas.

    from cnnlib import quiz
    q = quiz.question("output_size", seed=7)   # the same question for the same seed
    print(q.text); q.check(54); print(q.explain())
    quiz.ask()                                 # a new question of any kind; reads your answer

Each question is about real-looking layers (AlexNet's 11x11 stride 4 on 224 or 227, ResNet's
stem and 3x3 blocks, VGG's stacks, 1x1 bottlenecks, pooling) and carries the module it is
about (``q.module``, built on first use) and its input shape, so that ``tests/test_quiz.py``
checks every answer against PyTorch. The answers come from ``cnnlib.arithmetic``; the quiz box
on the book's pages (``_static/quiz.js``) draws the same question from the same seed.
"""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass, field

from torch import nn

from . import _quiz_layers as L
from ._args import whole_number
from ._seeded import Mulberry32
from .arithmetic import (conv_macs, conv_params, linear_macs, linear_params,
                         receptive_field)

KINDS = ("output_size", "parameters", "mult_adds", "receptive_field", "activation_memory",
         "flatten_features", "chain")
_BATCHES = [1, 8, 16, 32, 64, 128, 256]
_DTYPES = [("float32", 4), ("float32", 4), ("float16", 2), ("bfloat16", 2)]
MIB = 2 ** 20


@dataclass(eq=False)
class Question:
    """One question: ``text``, ``answer``, ``check(value)``, ``explain()``, ``module``.

    ``answer`` is an int, except for ``activation_memory`` (MiB, a float; ``check`` accepts
    the one decimal the question asks for) and ``chain`` (a tuple, one answer per part).
    """

    kind: str
    seed: int
    text: str
    answer: int | float | tuple
    input_shape: tuple[int, int, int]
    steps: list[str]
    layers: list[dict] = field(repr=False)
    tolerance: float = 0.0
    parts: tuple[Question, ...] = ()
    # activation_memory's setting, for code that checks the answer with its own count
    batch: int = 1
    value_bytes: int = 4
    training: bool | None = None

    def check(self, value) -> bool:
        """True when ``value`` (a number, or a string such as ``"1,234"``) is the answer.

        A chain takes one value per part, in order."""
        if self.parts:
            if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(
                    value) != len(self.parts):
                raise ValueError(f"this chain has {len(self.parts)} parts: give a list of "
                                 f"{len(self.parts)} answers, in order, got {value!r}")
            return all(part.check(v) for part, v in zip(self.parts, value))
        number = as_number(value)
        if self.tolerance:
            return abs(number - self.answer) <= self.tolerance + 1e-9
        return number == self.answer

    def explain(self) -> str:
        """The worked derivation, one step a line."""
        if self.parts:
            return "\n\n".join(f"{i}. " + part.explain() for i, part in
                               enumerate(self.parts, start=1))
        return "\n".join(self.steps)

    @functools.cached_property
    def module(self) -> nn.Module:
        """The layers of the question as an ``nn.Sequential`` (built on first use, so that
        drawing a question costs nothing; build it under ``torch.device("meta")`` to skip
        allocating weights)."""
        return L.build(self.layers)

    def __str__(self) -> str:
        return f"[{self.kind}, seed {self.seed}]\n{self.text}"


def as_number(value) -> float:
    """A typed answer as a number: ``54``, ``54.0``, ``"1,234"``, ``" 24.5 "``."""
    if isinstance(value, bool) or value is None:
        raise TypeError(f"an answer is a number, got {value!r}")
    text = str(value).strip().replace(",", "").replace("_", "").replace(" ", "")
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"an answer is a number such as 54, 1,234 or 24.5; got {value!r}") \
            from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"an answer is a finite number, got {value!r}")
    return number


def question(kind: str, seed: int | None = None) -> Question:
    """The question of ``kind`` drawn from ``seed`` (0 to 2**32 - 1; ``None``: a new one)."""
    if kind not in KINDS:
        raise ValueError(f"unknown question kind {kind!r}; the kinds are: {', '.join(KINDS)}")
    if seed is None:
        seed = secrets.randbelow(2 ** 32)
    seed = whole_number("seed", seed, 0, 2 ** 32 - 1,
                        meaning="the same seed gives the same question (None: a new one)")
    # Each kind its own stream, so that seed 0 is not the same layer in every kind.
    rng = Mulberry32(seed + 1_000_003 * KINDS.index(kind))
    return _MAKERS[kind](rng, kind, seed)


def more(kinds, count: int = 10, first_seed: int = 0) -> list[Question]:
    """``count`` questions, the kinds taken in turn, seeds ``first_seed``, ``first_seed+1``..."""
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    count = whole_number("count", count, 1, 1000)
    return [question(kinds[i % len(kinds)], first_seed + i) for i in range(count)]


def questions_text(questions: list[Question]) -> str:
    """The questions, numbered, for a page of practice."""
    return "\n\n".join(f"{i}. ({q.kind}, seed {q.seed}) {q.text}"
                       for i, q in enumerate(questions, start=1))


def answers_text(questions: list[Question]) -> str:
    """Each question's answer and derivation, numbered as in :func:`questions_text`."""
    return "\n\n".join(f"{i}. {shown(q)}\n{q.explain()}"
                       for i, q in enumerate(questions, start=1))


def shown(q: Question) -> str:
    """The answer as the page shows it."""
    if q.parts:
        return "; ".join(shown(part) for part in q.parts)
    if q.tolerance:
        return f"about {mib(round(q.answer * MIB))} MiB"
    return fmt(q.answer)


def fmt(n: int) -> str:
    return f"{n:,}"


def mib(n_bytes: int) -> str:
    """Bytes in MiB to one decimal, rounded half up with integers (as the JavaScript does)."""
    tenths = (n_bytes * 10 + MIB // 2) // MIB
    return f"{fmt(tenths // 10)}.{tenths % 10}"


def _block(lead: str, layers: list[dict], ask: str) -> str:
    lines = [line for layer in layers for line in L.describe(layer)]
    return lead + "\n" + "\n".join("    " + line for line in lines) + "\n" + ask


def _shape(layer: dict) -> str:
    return f"{layer['c']}×{layer['n']}×{layer['n']}"


def _label(layer: dict) -> str:
    if layer["type"] == "linear":
        return f"Linear({layer['fin']}, {layer['fout']})"
    name = {"conv": "Conv2d", "maxpool": "MaxPool2d", "avgpool": "AvgPool2d"}[layer["type"]]
    extra = f", dilation {layer['d']}" if layer.get("d", 1) != 1 else ""
    return f"{name} {layer['k']}×{layer['k']}, stride {layer['s']}, padding {layer['p']}{extra}"


def _size_steps(layer: dict) -> list[str]:
    n, k, s, p, d = layer["n"], layer["k"], layer["s"], layer["p"], layer.get("d", 1)
    span = L.k_eff(layer)
    num = n + 2 * p - span
    out = L.out_size(layer)
    kernel = f"{span}" if d == 1 else f"({d}×({k}-1)+1)"
    steps = [f"{_label(layer)}: floor(({n} + 2×{p} - {kernel}) / {s}) + 1 = "
             f"floor({num} / {s}) + 1 = {num // s} + 1 = {out}"]
    left = num % s
    if left:
        what, them = ("row fits", "it") if left == 1 else (f"{left} rows fit", "them")
        steps.append(f"  {num} = {s}×{num // s} + {left}: the last {what} no window, and "
                     f"PyTorch drops {them} without a word")
    if (k, s, p, n) == (11, 4, 0, 224):
        steps.append("  AlexNet's paper says 224×224 inputs, but its 55×55 maps need 227")
    return steps


def _conv_weights(layer: dict) -> int:
    return conv_params(layer["cin"], layer["cout"], layer["k"], layer["groups"], bias=False)


def _param_steps(layer: dict) -> tuple[list[str], list[int]]:
    """The lines for one layer's parameters, and its counts: weights, biases, BatchNorm's."""
    if layer["type"] == "linear":
        weights = linear_params(layer["fin"], layer["fout"], bias=False)
        biases = linear_params(layer["fin"], layer["fout"], layer["bias"]) - weights
        return [f"{_label(layer)}: weights {fmt(layer['fin'])} × {fmt(layer['fout'])} = "
                f"{fmt(weights)}, " + (f"biases {fmt(biases)}" if biases else "no bias")
                ], [weights, biases]
    if layer["type"] != "conv":
        return [], [0]
    cin, g, k, cout = layer["cin"], layer["groups"], layer["k"], layer["cout"]
    weights = _conv_weights(layer)
    biases = conv_params(cin, cout, k, g, layer["bias"]) - weights
    per = f"{cin // g}" if g == 1 else f"({cin}/{g})"
    steps = [f"{_label(layer)}: weights {cout} × {per} × {k}×{k} = {fmt(weights)}, "
             + (f"biases {cout}" if biases else "no bias (bias=False)")]
    if g > 1:
        steps.append(f"  groups={g}: each filter sees {cin // g} of the {cin} input channels")
    if not layer["bn"]:
        return steps, [weights, biases]
    steps.append(f"BatchNorm2d({cout}): a scale and a shift per channel, 2 × {cout} = "
                 f"{fmt(2 * cout)} (its running mean and variance are buffers, not parameters)")
    return steps, [weights, biases, 2 * cout]


def _mac_steps(layer: dict) -> tuple[list[str], int]:
    if layer["type"] == "linear":
        macs = linear_macs(layer["fin"], layer["fout"])
        return [f"{_label(layer)}: {fmt(layer['fin'])} × {fmt(layer['fout'])} = "
                f"{fmt(macs)}"], macs
    if layer["type"] != "conv":
        return [], 0
    out = L.out_size(layer)
    per = (layer["cin"] // layer["groups"]) * layer["k"] ** 2
    values = layer["cout"] * out * out
    macs = conv_macs(layer["cin"], layer["cout"], layer["k"], out, out, layer["groups"])
    return _size_steps(layer) + [
        f"  each of the {layer['cout']}×{out}×{out} = {fmt(values)} output values is a dot "
        f"product of {layer['cin'] // layer['groups']}×{layer['k']}×{layer['k']} = "
        f"{fmt(per)} products: {fmt(per)} × {fmt(values)} = {fmt(macs)}"], macs


def _total(steps: list[str], counts: list[int], what: str) -> int:
    total = sum(counts)
    shown_counts = [c for c in counts if c]
    if len(shown_counts) > 1:
        steps.append(f"{what}: {' + '.join(fmt(c) for c in shown_counts)} = {fmt(total)}")
    return total


def _one(kind, seed, lead_layer, layers, ask, answer, steps, **extra) -> Question:
    c, n = lead_layer["c"], lead_layer["n"]
    text = _block(f"Input {c}×{n}×{n}, then:", layers, ask)
    return Question(kind, seed, text, answer, (c, n, n), steps, layers, **extra)


def _output_size(rng, kind, seed):
    conv = rng.below(4) > 0
    layer = (L.draw_conv(rng, None, None, stem=True, bn=False, relu=False) if conv
             else L.draw_pool(rng, None, None))
    return _one(kind, seed, layer, [layer], "What is the height of the output?",
                L.out_size(layer), ["out = floor((n + 2p - k) / s) + 1"] + _size_steps(layer))


def _parameters(rng, kind, seed):
    linear = rng.below(4) == 0
    layer = (L.draw_linear(rng) if linear
             else L.draw_conv(rng, None, None, stem=True, bn=True, relu=False))
    steps, counts = _param_steps(layer)
    total = _total(steps, counts, "total")
    return _one(kind, seed, layer, [layer], "How many parameters do these modules hold?",
                total, steps)


def _mult_adds(rng, kind, seed):
    linear = rng.below(5) == 0
    layer = (L.draw_linear(rng) if linear
             else L.draw_conv(rng, None, None, stem=True, bn=False, relu=False))
    steps, macs = _mac_steps(layer)
    return _one(kind, seed, layer, [layer], "How many multiply-adds for one image? (One per "
                "weight and output position; the bias additions are left out.)", macs, steps)


def _field_steps(layers: list[dict]) -> tuple[list[str], int]:
    rows = receptive_field([(x["k"], x["s"], x.get("d", 1)) for x in layers])
    steps = ["r: the field's side in input pixels; j: the input pixels between neighbouring "
             "outputs. Start at r = 1, j = 1; each layer: r += (k_eff - 1) × j, j ×= s"]
    r, j = 1, 1
    for layer, row in zip(layers, rows):
        steps.append(f"{_label(layer)}: r = {r} + ({L.k_eff(layer)} - 1) × {j} = {row['r']}, "
                     f"j = {j} × {layer['s']} = {row['j']}")
        r, j = row["r"], row["j"]
    steps.append(f"one output pixel sees {r}×{r} input pixels")
    return steps, r


def _receptive_field(rng, kind, seed):
    layers = L.draw_stack(rng, 2 + rng.below(3), bn=False)
    steps, r = _field_steps(layers)
    return _one(kind, seed, layers[0], layers, "How wide is the receptive field of one output "
                "pixel, in input pixels?", r, steps)


def _activation_memory(rng, kind, seed):
    layers = L.draw_stack(rng, 1 + rng.below(3), bn=False)
    batch = rng.pick(_BATCHES)
    dtype, size = rng.pick(_DTYPES)
    training = rng.below(2) == 0
    first = layers[0]
    ins = [x["c"] * x["n"] ** 2 for x in layers]
    outs = [L.out_channels(x) * L.out_size(x) ** 2 for x in layers]
    steps = [f"{_label(x)}: output {L.out_channels(x)}×{L.out_size(x)}×{L.out_size(x)} = "
             f"{fmt(o)} values an image" for x, o in zip(layers, outs)]
    if training:
        values = sum(outs)
        if len(outs) > 1:
            steps.append(f"kept for the backward pass: {' + '.join(fmt(o) for o in outs)} = "
                         f"{fmt(values)} values an image")
        ask = ("In training, every layer's output is kept for the backward pass (count each "
               "Conv2d and pooling output once: the ReLUs work in place; leave the input "
               "out). How many MiB is that?")
    else:
        pairs = [i + o for i, o in zip(ins, outs)]
        values = max(pairs)
        at = pairs.index(values)
        steps.append(f"input + output of each layer: {', '.join(fmt(x) for x in pairs)}; "
                     f"the largest, {fmt(values)}, at layer {at + 1}")
        ask = ("In inference, each output is freed once the next layer has used it, so a "
               "layer's input and output are all that is held at once. What is the peak, "
               "in MiB?")
    n_bytes = values * batch * size
    steps.append(f"{fmt(values)} × batch {batch} × {size} bytes = {fmt(n_bytes)} bytes = "
                 f"{fmt(n_bytes)} / 1,048,576 ≈ {mib(n_bytes)} MiB")
    lead = (f"A batch of {batch} inputs of {_shape(first)} in {dtype} ({size} bytes a value), "
            "then:")
    text = _block(lead, layers, ask + " (1 MiB = 2^20 bytes; one decimal is enough.)")
    return Question(kind, seed, text, n_bytes / MIB, (first["c"], first["n"], first["n"]),
                    steps, layers, tolerance=0.05, batch=batch, value_bytes=size,
                    training=training)


def _flatten_features(rng, kind, seed):
    layers = L.draw_stack(rng, 2 + rng.below(3), bn=False)
    last = layers[-1]
    c, o = L.out_channels(last), L.out_size(last)
    steps = [s for x in layers for s in _size_steps(x)]
    steps.append(f"flattened: {c} × {o} × {o} = {fmt(c * o * o)}")
    return _one(kind, seed, layers[0], layers, "Then nn.Flatten() and nn.Linear(?, 10). What "
                "must in_features be?", c * o * o, steps)


def _chain(rng, kind, seed):
    layers = L.draw_stack(rng, 2 + rng.below(2), bn=True)
    shape = (layers[0]["c"], layers[0]["n"], layers[0]["n"])
    size_steps = [s for x in layers for s in _size_steps(x)]
    param_steps, counts = [], []
    mac_steps, macs = [], []
    for x in layers:
        lines, layer_counts = _param_steps(x)
        param_steps += lines
        counts.append(sum(layer_counts))
        lines, m = _mac_steps(x)
        mac_steps += lines
        macs.append(m)
    params = _total(param_steps, counts, "total")
    mac_total = _total(mac_steps, macs, "total")
    field_steps, r = _field_steps(layers)
    asks = [("The height of the output?", L.out_size(layers[-1]), size_steps),
            ("The parameters, in all?", params, param_steps),
            ("The multiply-adds for one image (the convolutions only)?", mac_total,
             mac_steps),
            ("The receptive field of one output pixel, in input pixels?", r, field_steps)]
    parts = tuple(Question(kind, seed, ask, answer, shape, steps, layers)
                  for ask, answer, steps in asks)
    ask = "\n".join(f"{i}. {a}" for i, (a, _, _) in enumerate(asks, start=1))
    return Question(kind, seed, _block(f"Input {_shape(layers[0])}, then:", layers, ask),
                    tuple(p.answer for p in parts), shape, [], layers, parts=parts)


_MAKERS = {"output_size": _output_size, "parameters": _parameters, "mult_adds": _mult_adds,
           "receptive_field": _receptive_field, "activation_memory": _activation_memory,
           "flatten_features": _flatten_features, "chain": _chain}


def ask(kind: str | None = None, seed: int | None = None, answer=None) -> Question:
    """Print a new question, read the answer (or take ``answer``), say if it is right and how.

    Where no answer can be typed (a notebook run by a script, as the book's tests run it) the
    question is printed and returned: ``q.check(...)`` and ``q.explain()`` work on it later.
    A chain asks its parts in turn; an empty answer shows the answer and its derivation.
    """
    if kind is None:
        kind = KINDS[secrets.randbelow(len(KINDS))]
    q = question(kind, seed)
    print(q)
    for i, part in enumerate(q.parts or (q,)):
        typed = answer[i] if q.parts and answer is not None else answer
        if typed is None:
            typed = _read(f"Your answer{f' to {i + 1}' if q.parts else ''}: ")
        if typed is None:
            print("\n(This kernel cannot read typed input. Answer with "
                  "q.check(...); q.explain() shows the derivation.)")
            return q
        print(_verdict(part, typed))
    return q


def _read(prompt: str):
    """``input()``, or None where the kernel has no stdin (nbclient, nbval, a script)."""
    try:
        return input(prompt)
    except EOFError:
        return None
    except Exception as error:  # noqa: BLE001
        if type(error).__name__ == "StdinNotImplementedError":  # IPython without a frontend
            return None
        raise


def _verdict(q: Question, typed) -> str:
    if str(typed).strip() == "":
        return f"The answer is {shown(q)}.\n{q.explain()}"
    try:
        right = q.check(typed)
    except (TypeError, ValueError) as error:
        return f"{error}. The answer is {shown(q)}.\n{q.explain()}"
    if right:
        return f"Right: {shown(q)}.\n{q.explain()}"
    return f"Not quite: you said {typed}, the answer is {shown(q)}.\n{q.explain()}"
