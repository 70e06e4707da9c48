"""Whiteboard drills: write a classic network from memory, then find the first layer that differs.

    from cnnlib.drills import check
    result = check(MyLeNet5(), "lenet5")     # prints a verdict; result.ok, result.first_divergence

``check`` runs your model and the book's reference on the same input and records, in execution
order, the layers that define an architecture: convolutions, fully connected layers, BatchNorm,
pooling, local response normalisation and residual additions (``out + identity``), with the
activation and dropout that follow each. Modules and functional calls count alike (``nn.ReLU`` or
``F.relu``, ``nn.MaxPool2d`` or ``F.max_pool2d``, ``nn.Flatten`` or ``x.view``), so any way of
writing the same network passes. A module the checker does not read (a layer written by hand) is
identified by what it computes: probed, it is recognised as local response normalisation (with
its size, α, β and k) or as an activation; one that is neither is named in the verdict as a
module the checker does not know, and compared with the reference's layer on the same input,
rather than the layer next to it being blamed. The layers are compared one by one (kind, output
shape, parameters, kernel/stride/padding/groups, bias) and the verdict explains the first
difference from the attributes that cause it, and points at the line of your code that builds
that layer.

Two choices keep equivalent models equal:

* Activations are compared by kind and by the layer they follow; one that sits after a max-pool
  counts as following the layer before the pool, since max-pooling commutes with any
  non-decreasing function (``pool(relu(x)) == relu(pool(x))``).
* Dropout is compared by count and rate. Its position is only noted: the AlexNet paper and
  torchvision put it on different sides of the same layers, and both are in use (they train
  differently and are the same network at test time).

In a residual block, the layers on the shortcut are moved, for the comparison, to just before
the addition they feed, so computing the shortcut first or last does not matter. Parallel
branches that meet in a ``torch.cat`` (the Inception module) are read in the order the cat
stacks them, whatever order ``forward`` runs them in; for such a reference, once every layer
matches, the reference's weights are copied into a copy of the reader's model and the output
values compared, since the layers alone do not fix the stacking order.

The modules, one job each:

* ``_trace``: records one forward pass (layers, activations, flattens, additions, in order).
* ``_identify``: what a module the tracer cannot read computes (LRN, an activation), by probing.
* ``_references``: the book's models by name, and their recorded traces.
* ``_check``: :func:`check` and :class:`DrillResult`; puts the verdict together.
* ``_compare``: matches two traces layer by layer and words the first difference.
* ``_attributes``: one layer's differing attributes in words, and the output-size arithmetic.
* ``_whole_model``: checks once every layer matched (batch, output, dropout, parameters).
* ``_outputs``: the same output values, with the reference's weights copied in (Inception).
* ``_failures``: why a model that does not run failed, without a traceback.
* ``_source``: finds the line of the reader's code that builds (or calls) a layer.
* ``_report``: the verdict's table, and a reference layer written as code.
* ``_sheets``: cheat sheets (:func:`layer_sheet`, :func:`shape_ladder`).
* ``_values``: how values are written (``fmt``), and how many numbers a shape holds.
"""

from ._check import DrillResult, check
from ._references import (Reference, get_reference, list_references, reference_trace,
                          register_reference)
from ._sheets import layer_sheet, shape_ladder
from ._steps import Trace
from ._trace import trace

__all__ = ["DrillResult", "Reference", "check", "get_reference", "layer_sheet", "list_references",
           "reference_trace", "register_reference", "shape_ladder", "trace"]
