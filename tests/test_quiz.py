"""cnnlib.quiz: every generated answer agrees with what PyTorch does with the question's module.

Sizes from a forward pass, parameters from ``numel``, multiply-adds from torchinfo, receptive
fields from gradients, activation memory from forward hooks: thousands of questions, on the
meta device where only shapes matter, so the file runs in seconds.
"""

from __future__ import annotations

import builtins

import pytest
import torch
import torchinfo
from torch import nn

from cnnlib import _quiz_layers, quiz
from cnnlib.arithmetic import activation_memory

SEEDS = range(400)  # per kind: 2,800 questions (and 1,600 chain parts) through PyTorch
KINDS_BY_PART = {"output_size": 0, "parameters": 1, "mult_adds": 2, "receptive_field": 3}


def questions(kind: str, seeds=SEEDS) -> list[quiz.Question]:
    return [quiz.question(kind, seed=s) for s in seeds]


def on_meta(q: quiz.Question, dtype=torch.float32) -> nn.Module:
    with torch.device("meta"):
        return _quiz_layers.build(q.layers).to(dtype)


def answers(q: quiz.Question, kind: str):
    """(answer, question) pairs of ``kind``: the question itself, or a chain's part."""
    if q.kind == "chain":
        return q.answer[KINDS_BY_PART[kind]]
    return q.answer


def forward_meta(q: quiz.Question, batch: int = 1, dtype=torch.float32) -> torch.Tensor:
    return on_meta(q, dtype)(torch.empty(batch, *q.input_shape, device="meta", dtype=dtype))


@pytest.mark.parametrize("kind", ["output_size", "chain"])
def test_output_height_is_the_forward_pass(kind):
    for q in questions(kind):
        out = forward_meta(q)
        assert out.shape[-2] == out.shape[-1] == answers(q, "output_size"), q


@pytest.mark.parametrize("kind", ["parameters", "chain"])
def test_parameters_are_the_modules_numel(kind):
    for q in questions(kind):
        assert sum(p.numel() for p in on_meta(q).parameters()) == answers(q, "parameters"), q


def test_the_module_property_is_the_questions_layers():
    q = quiz.question("chain", seed=3)
    assert [type(m) for m in q.module] == [type(m) for m in on_meta(q)]
    assert q.module is q.module  # built once


def torchinfo_macs(q: quiz.Question) -> int:
    """torchinfo's multiply-adds of the convolutions and linear layers, biases left out."""
    model = on_meta(q)
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            m.bias = None  # torchinfo counts a bias per output value; the question does not
    stats = torchinfo.summary(model, input_data=torch.empty(1, *q.input_shape, device="meta"),
                              verbose=0)
    return sum(layer.macs for layer in stats.summary_list
               if layer.class_name in ("Conv2d", "Linear"))


@pytest.mark.parametrize("kind,seeds", [("mult_adds", range(150)), ("chain", range(60))])
def test_mult_adds_are_torchinfos(kind, seeds):
    for q in questions(kind, seeds):
        assert torchinfo_macs(q) == answers(q, "mult_adds"), q


def field_by_gradient(q: quiz.Question) -> int:
    """The side of the input patch that one central output pixel depends on.

    The question's module, rebuilt with one channel, weights of 1 and average pooling in place
    of max pooling (whose gradient reaches one pixel per window), on an input large enough that
    the patch is not cut by the border; every path is positive, so every pixel in the field
    gets a non-zero gradient."""
    layers = []
    for m in q.module if q.kind != "chain" else q.parts[3].module:
        if isinstance(m, nn.Conv2d):
            conv = nn.Conv2d(1, 1, m.kernel_size, m.stride, m.padding, m.dilation, bias=False)
            nn.init.ones_(conv.weight)
            layers.append(conv)
        elif isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
            layers.append(nn.AvgPool2d(m.kernel_size, m.stride, m.padding))
    model = nn.Sequential(*layers).double()
    side = 3 * answers(q, "receptive_field") + 64
    x = torch.ones(1, 1, side, side, dtype=torch.float64, requires_grad=True)
    out = model(x)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    rows = x.grad[0, 0].abs().sum(1).nonzero().flatten()
    cols = x.grad[0, 0].abs().sum(0).nonzero().flatten()
    assert rows[-1] - rows[0] == cols[-1] - cols[0]
    return int(rows[-1] - rows[0] + 1)


@pytest.mark.parametrize("kind,seeds", [("receptive_field", range(300)), ("chain", range(100))])
def test_receptive_fields_are_the_gradients_reach(kind, seeds):
    for q in questions(kind, seeds):
        assert field_by_gradient(q) == answers(q, "receptive_field"), q


def test_flatten_features_fit_the_linear_layer():
    for q in questions("flatten_features"):
        out = forward_meta(q).flatten(1)
        assert out.shape[1] == q.answer, q
        nn.Linear(q.answer, 10, device="meta")(out)  # the answer is what in_features must be


def test_activation_memory_is_what_the_forward_pass_holds():
    for q in questions("activation_memory"):
        batch = int(q.text.split("A batch of ")[1].split()[0])
        dtype = torch.float16 if " in float16 " in q.text else (
            torch.bfloat16 if " in bfloat16 " in q.text else torch.float32)
        sizes = []  # (input bytes, output bytes) of each convolution and pooling

        def hook(module, inputs, output):
            sizes.append((inputs[0].numel() * inputs[0].element_size(),
                          output.numel() * output.element_size()))

        model = on_meta(q, dtype)
        for m in model:
            if isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
                m.register_forward_hook(hook)
        model(torch.empty(batch, *q.input_shape, device="meta", dtype=dtype))
        held = (sum(o for _, o in sizes) if "In training" in q.text
                else max(i + o for i, o in sizes))
        assert held == q.answer * quiz.MIB, q
        assert q.check(round(q.answer, 1)) and not q.check(q.answer + 0.06)


def test_the_book_counts_activation_memory_as_the_quiz_does():
    """cnnlib.arithmetic.activation_memory (chapter 2's count) gives every answer."""
    for q in questions("activation_memory", range(200)):
        counted = activation_memory(on_meta(q), (q.batch, *q.input_shape), q.value_bytes)
        assert counted["training" if q.training else "inference"] == q.answer * quiz.MIB, q
        assert (" in float16 " in q.text or " in bfloat16 " in q.text) == (q.value_bytes == 2)
        assert ("In training" in q.text) == q.training


@pytest.mark.parametrize("kind", quiz.KINDS)
def test_the_same_seed_gives_the_same_question_and_seeds_differ(kind):
    first = [(q.text, q.answer, q.explain()) for q in questions(kind, range(50))]
    again = [(q.text, q.answer, q.explain()) for q in questions(kind, range(50))]
    assert first == again
    assert len({text for text, _, _ in first}) >= 40, "seeds should give different questions"


def test_the_kinds_differ_for_one_seed():
    texts = {quiz.question(kind, seed=0).text.split("\n")[1] for kind in quiz.KINDS}
    assert len(texts) >= 4


def test_questions_cover_the_realistic_layers():
    texts = "\n".join(q.text for kind in quiz.KINDS for q in questions(kind, range(200)))
    for layer in ("kernel_size=1,", "kernel_size=3,", "kernel_size=5", "kernel_size=7",
                  "kernel_size=11", "stride=2", "stride=4", "padding=1", "padding=3",
                  "dilation=2", "groups=2", "nn.MaxPool2d", "nn.AvgPool2d", "nn.BatchNorm2d",
                  "nn.Linear", "Input 3×224×224", "Input 3×227×227"):
        assert layer in texts, layer
    trap = quiz.question("output_size", seed=next(
        s for s in range(1000) if "11, stride=4)" in quiz.question("output_size", s).text
        and "224×224" in quiz.question("output_size", s).text))
    assert trap.answer == 54 and "need 227" in trap.explain()


@pytest.mark.parametrize("kind", quiz.KINDS)
def test_check_accepts_the_answer_and_rejects_wrong_ones(kind):
    for q in questions(kind, range(100)):
        assert q.check(q.answer)
        if kind == "chain":
            assert q.check([quiz.shown(p) for p in q.parts])
            wrong = list(q.answer)
            wrong[1] += 1
            assert not q.check(wrong)
            continue
        assert q.check(quiz.shown(q).removeprefix("about ").removesuffix(" MiB"))
        assert not q.check(q.answer + 1) and not q.check(q.answer - 1)
        if kind != "activation_memory":
            assert not q.check(q.answer + 0.5)  # whole numbers: no rounding is stated


def test_check_reads_typed_answers():
    q = quiz.question("parameters", seed=2)
    assert q.check(f"{q.answer:,}") and q.check(f" {q.answer} ") and q.check(float(q.answer))
    with pytest.raises(ValueError, match="an answer is a number such as 54"):
        q.check("fifty")
    with pytest.raises(TypeError, match="an answer is a number"):
        q.check(True)
    chain = quiz.question("chain", seed=1)
    with pytest.raises(ValueError, match="this chain has 4 parts"):
        chain.check(chain.answer[0])


def test_bad_kinds_and_seeds_are_refused_with_the_fix():
    with pytest.raises(ValueError, match="unknown question kind 'output'; the kinds are: "
                                         "output_size, parameters"):
        quiz.question("output")
    for seed, error in ((-1, ValueError), (2 ** 32, ValueError), (1.5, TypeError),
                        (True, TypeError), ("7", TypeError)):
        with pytest.raises(error, match="seed must be a whole number|seed must be from 0"):
            quiz.question("chain", seed=seed)
    assert quiz.question("chain", seed=2 ** 32 - 1).seed == 2 ** 32 - 1


def test_a_seed_of_none_draws_a_new_question():
    seeds = {quiz.question("output_size").seed for _ in range(20)}
    assert len(seeds) > 15


def test_ask_reads_the_typed_answer_and_explains(monkeypatch, capsys):
    q = quiz.question("output_size", seed=5)
    typed = iter([str(q.answer)])
    monkeypatch.setattr(builtins, "input", lambda prompt="": next(typed))
    quiz.ask("output_size", seed=5)
    out = capsys.readouterr().out
    assert q.text in out and f"Right: {q.answer}." in out and q.explain() in out


def test_ask_shows_a_wrong_answer_and_the_derivation(capsys):
    q = quiz.ask("chain", seed=4, answer=[0, 0, 0, 0])
    out = capsys.readouterr().out
    assert out.count("Not quite: you said 0") == 4 and q.parts[3].explain() in out


def test_ask_without_stdin_prints_the_question_and_returns_it(monkeypatch, capsys):
    class StdinNotImplementedError(RuntimeError):
        pass

    def no_stdin(prompt=""):
        raise StdinNotImplementedError("raw_input was called, but this frontend does not "
                                       "support input requests")

    monkeypatch.setattr(builtins, "input", no_stdin)
    q = quiz.ask("receptive_field", seed=9)
    out = capsys.readouterr().out
    assert q.text in out and "cannot read typed input" in out and str(q.answer) not in out[-80:]


def test_more_takes_the_kinds_in_turn():
    qs = quiz.more(["output_size", "parameters"], count=10, first_seed=100)
    assert [q.kind for q in qs[:3]] == ["output_size", "parameters", "output_size"]
    assert [q.seed for q in qs] == list(range(100, 110))
    assert quiz.questions_text(qs).startswith("1. (output_size, seed 100) Input")
    assert qs[9].explain() in quiz.answers_text(qs)
