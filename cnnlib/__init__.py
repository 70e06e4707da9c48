"""cnnlib: the one library every chapter of Classic CNNs imports.

    import cnnlib
    run = cnnlib.setup()                      # device, mode, seed; prints the banner
    data = cnnlib.load_data("mnist", run)     # real data as tensor loaders
    history = cnnlib.fit(model, data.train, data.test, epochs=run.pick(1, 10))

Modules, one job each: settings (device/mode/seed), data (datasets), loader (tensor loader with
on-device augmentation), train (fit/evaluate), summary (layer tables), arithmetic (shapes and
parameter counts), plots (figures), layers (LRN and dropout written from scratch), models
(the registry: ``cnnlib.models.get_model("lenet5")``), fast (the speed switches, FastSettings),
bench and recipes (``python -m cnnlib.bench``, ``python -m cnnlib.recipes``: measured speed),
results (machine, peak FLOP/s and result files) and reports (the tables of recorded runs).
"""

__version__ = "0.1.0"

from .checkpoint import CheckpointError, checkpoint_path, load_checkpoint, save_checkpoint
from .data import DATASETS, DatasetUnavailableError, channel_stats, data_root, load_data, load_tensors
from .fast import FastSettings
from .loader import TensorLoader
from .settings import RunSettings, banner, pick_device, pick_mode, seed_everything, setup
from .summary import format_table, summary
from .train import History, evaluate, fit, predict, predict_probs
from . import arithmetic, checkpoint, colab, fast, layers, models, plots  # noqa: E402  (submodules, by name)

__all__ = [
    "CheckpointError", "checkpoint_path", "load_checkpoint", "save_checkpoint",
    "DATASETS", "DatasetUnavailableError", "FastSettings", "History", "RunSettings", "TensorLoader", "banner",
    "channel_stats", "data_root", "evaluate", "fit", "format_table", "load_data", "load_tensors",
    "pick_device", "pick_mode", "predict", "predict_probs", "seed_everything", "setup", "summary",
]
