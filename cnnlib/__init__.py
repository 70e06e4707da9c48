"""cnnlib: the one library every chapter of Classic CNNs imports.

    import cnnlib
    run = cnnlib.setup()                      # device, mode, seed; prints the banner
    data = cnnlib.load_data("mnist", run)     # real data as tensor loaders
    history = cnnlib.fit(model, data.train, data.test, epochs=run.pick(1, 10))

Every module has one job; CONTRIBUTING.md has the map of which may import which. Modules load
on first use, so ``import cnnlib`` is quick and a figure's first call pays for matplotlib.

- settings: device, mode and seed for a run (``setup``, the banner)
- data: the datasets, as tensors on the device; loader: the tensor loader with on-device
  augmentation
- train: ``fit``, ``evaluate``, ``predict``; history: what a run measured; optim: the book's
  SGD + one-cycle set-up; checkpoint: saving and resuming runs; fast: the speed switches
- models: the model registry (``cnnlib.models.get_model("lenet5")``); layers: LRN and dropout
  written from scratch; conv_from_scratch: a convolution written with loops
- arithmetic: shapes, parameter and multiply-add counts; summary: layer tables
- plots: every figure; diagnose: checks for a run that does not learn; shift: a layer's input
  over training (what batch normalization was meant to steady)
- folders: your own image folder, from a messy download to a trained model
- pretrained: the book's pretrained weights (package data) and torchvision's ImageNet ones;
  finetune: a new head, a frozen body, a smaller rate for the body
- drills: the whiteboard checker; quiz: interview questions drawn from a seed; colab: how
  answer cells behave in Colab; notebook: numbers glued into a page's prose
- callbacks: what ``fit`` calls after each epoch (``StopTraining``, ``BestCheckpoint``)
- records: the runs of the chapters' experiments, which ``python -m cnnlib.experiments`` makes
- bench, recipes: measured speed (``python -m cnnlib.bench``, ``python -m cnnlib.recipes``);
  results: the machine, its peak FLOP/s and the result files; reports: the tables of those runs
"""

from __future__ import annotations

import importlib

from ._version import __version__
# Eager: cnnlib.summary is the function, and the module of the same name would replace it if
# it were first imported by another module.
from .summary import summary

# Everything else loads on first use (PEP 562): ``import cnnlib`` costs little beyond torch,
# matplotlib loads with the first figure, torchvision with the first dataset, and
# ``python -m cnnlib.bench`` starts without runpy's "found in sys.modules" warning.
_EXPORTS = {
    "checkpoint": ("CheckpointError", "CheckpointSaveError", "checkpoint_path",
                   "load_checkpoint", "save_checkpoint"),
    "data": ("DATASETS", "DatasetUnavailableError", "channel_stats", "data_root", "load_data",
             "load_tensors"),
    "fast": ("FastSettings",),
    "history": ("History", "epochs_to_reach", "spread"),
    "loader": ("TensorLoader",),
    "notebook": ("glue", "glue_all"),
    "optim": ("one_cycle",),
    "settings": ("RunSettings", "banner", "model_device", "pick_device", "pick_mode",
                 "seed_everything", "setup"),
    "tables": ("format_table",),
    "train": ("StopTraining", "evaluate", "fit", "predict", "predict_probs"),
}
_HOME = {name: module for module, names in _EXPORTS.items() for name in names}
# Every public module, so that ``import cnnlib`` is enough to reach ``cnnlib.<module>.<name>``.
_MODULES = ("arithmetic", "bench", "callbacks", "checkpoint", "colab", "conv_from_scratch",
            "data", "designs", "diagnose", "drills", "experiments", "fast", "finetune",
            "folders", "history", "layers", "loader", "models", "notebook", "optim", "plots",
            "pretrained", "quiz",
            "recipes", "records", "reports", "results", "settings", "shift", "tables",
            "test_time",
            "train")


def __getattr__(name: str):
    if name in _HOME:
        value = getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)
    elif name in _MODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module 'cnnlib' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOME, *_MODULES})


__all__ = [
    "__version__",
    "CheckpointError", "CheckpointSaveError", "checkpoint_path", "load_checkpoint",
    "save_checkpoint",
    "DATASETS", "DatasetUnavailableError", "FastSettings", "History", "RunSettings",
    "StopTraining", "TensorLoader", "banner", "channel_stats", "data_root", "epochs_to_reach",
    "evaluate", "fit", "format_table", "glue", "glue_all", "load_data", "load_tensors", "model_device", "one_cycle",
    "pick_device", "pick_mode", "predict", "predict_probs", "seed_everything", "setup", "spread",
    "summary",
]
