"""Using the trained model on a new image file: :func:`predict_file` and its :class:`Prediction`.

Its own module because it is the other end of the pipeline from loading: it needs no dataset,
only a model, one file read the way training read them (:func:`~cnnlib.folders.load_rgb`) and
the evaluation transform, and it answers with the class and the probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from ..settings import model_device
from .files import load_rgb


@dataclass
class Prediction:
    """What :func:`predict_file` saw and said."""

    path: Path
    image: Image.Image    # the file as loaded (upright RGB, full size)
    label: str
    probability: float
    probabilities: dict   # class -> probability

    def __str__(self) -> str:
        return f"{self.path.name}: {self.label} {100 * self.probability:.1f} %"


@torch.inference_mode()
def predict_file(model: torch.nn.Module, path, transform, classes) -> Prediction:
    """Classify one image file: load (:func:`load_rgb`), transform, one forward pass, softmax.

    ``transform`` must be the evaluation transform the model was validated with (resize,
    tensor, normalisation with the *training* statistics), or the probabilities mean nothing.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no image file {path} (absolute: {path.absolute()})")
    image = load_rgb(path)
    model.eval()
    device = model_device(model)
    probs = model(transform(image).unsqueeze(0).to(device)).float().softmax(1)[0].cpu()
    if len(probs) != len(classes):
        raise ValueError(f"the model gives {len(probs)} outputs but {len(classes)} class names "
                         "were passed: use the class list saved with the model")
    best = int(probs.argmax())
    return Prediction(path, image, classes[best], float(probs[best]),
                      {c: float(p) for c, p in zip(classes, probs)})
