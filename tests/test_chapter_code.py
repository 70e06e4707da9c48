"""Functions a chapter writes out by hand, checked against the library they teach."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

CHAPTERS = Path(__file__).resolve().parent.parent / "chapters"


def cell_namespace(chapter: str, cell_id: str, **names) -> dict:
    cells = json.loads((CHAPTERS / chapter).read_text())["cells"]
    source = "".join(next(c for c in cells if c.get("id") == cell_id)["source"])
    namespace = {"torch": torch, "nn": nn, **names}
    exec(source, namespace)
    return namespace


def test_chapter_7s_layer_norm_equals_nn_layernorm_with_learned_scale_and_shift():
    layer_norm = cell_namespace("07_batch_norm.ipynb", "ln-code")["layer_norm"]
    torch.manual_seed(0)
    reference = nn.LayerNorm(32)
    with torch.no_grad():  # not the initial 1 and 0, so that gamma and beta are checked too
        reference.weight.uniform_(0.5, 2.0)
        reference.bias.uniform_(-1.0, 1.0)
    for shape in ((5, 32), (2, 7, 32), (1, 32)):
        x = 4 * torch.randn(shape) - 1
        torch.testing.assert_close(layer_norm(x, reference.weight, reference.bias),
                                   reference(x))
