"""cnnlib: the one library every chapter of Classic CNNs imports.

    import cnnlib
    run = cnnlib.setup()                      # device, mode, seed; prints the banner
    data = cnnlib.load_data("mnist", run)     # real data as tensor loaders
    history = cnnlib.fit(model, data.train, data.test, epochs=run.pick(1, 10))

Every module has one job; CONTRIBUTING.md has the map of which may import which.

- settings: device, mode and seed for a run (``setup``, the banner)
- data: the datasets, as tensors on the device; loader: the tensor loader with on-device
  augmentation
- train: ``fit``, ``evaluate``, ``predict``; history: what a run measured; optim: the book's
  SGD + one-cycle set-up; checkpoint: saving and resuming runs; fast: the speed switches
- models: the model registry (``cnnlib.models.get_model("lenet5")``); layers: LRN and dropout
  written from scratch; conv_from_scratch: a convolution written with loops
- arithmetic: shapes, parameter and multiply-add counts; summary: layer tables
- plots: every figure; diagnose: checks for a run that does not learn
- folders: your own image folder, from a messy download to a trained model
- drills: the whiteboard checker; colab: how answer cells behave in Colab; notebook: numbers
  glued into a page's prose
- callbacks: what ``fit`` calls after each epoch (``StopTraining``, ``BestCheckpoint``)
- records: the runs of the chapters' experiments (``python -m cnnlib.experiments`` makes them;
  that module is imported only when run, so that it starts without runpy's warning)
- bench, recipes: measured speed (``python -m cnnlib.bench``, ``python -m cnnlib.recipes``);
  results: the machine, its peak FLOP/s and the result files; reports: the tables of those runs
"""

from ._version import __version__
from .checkpoint import (CheckpointError, CheckpointSaveError, checkpoint_path, load_checkpoint,
                         save_checkpoint)
from .data import DATASETS, DatasetUnavailableError, channel_stats, data_root, load_data, load_tensors
from .fast import FastSettings
from .history import History, epochs_to_reach, spread
from .loader import TensorLoader
from .notebook import glue
from .optim import one_cycle
from .settings import (RunSettings, banner, model_device, pick_device, pick_mode, seed_everything,
                       setup)
from .summary import summary
from .tables import format_table
from .train import StopTraining, evaluate, fit, predict, predict_probs
# Every public module, so that ``import cnnlib`` is enough to reach ``cnnlib.<module>.<name>``
# (except ``summary``: ``cnnlib.summary`` is the function, the module of the same name holds it).
from . import (arithmetic, bench, callbacks, checkpoint, colab, conv_from_scratch,  # noqa: E402
               data, diagnose, drills, fast, folders, history, layers, loader, models, notebook,
               optim, plots, recipes, records, reports, results, settings, tables, train)

__all__ = [
    "__version__",
    "CheckpointError", "CheckpointSaveError", "checkpoint_path", "load_checkpoint",
    "save_checkpoint",
    "DATASETS", "DatasetUnavailableError", "FastSettings", "History", "RunSettings",
    "StopTraining", "TensorLoader", "banner", "channel_stats", "data_root", "epochs_to_reach",
    "evaluate", "fit", "format_table", "glue", "load_data", "load_tensors", "model_device", "one_cycle",
    "pick_device", "pick_mode", "predict", "predict_probs", "seed_everything", "setup", "spread",
    "summary",
]
