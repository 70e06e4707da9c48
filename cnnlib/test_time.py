"""Test-time augmentation: average a model's softmax over several views of each test image.

AlexNet's paper tested on ten 224×224 patches of each 256×256 image, the four corners and the
centre and their mirror images, and averaged the ten softmax outputs. On CIFAR-10, trained with
4-pixel shifts, the analogue pads the image by 4 pixels as training did and takes the same ten
32×32 crops (torchvision's ``ten_crop``): every view is one the network saw during training.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._probe import probing
from .settings import model_device

VIEWS = ("centre", "flip", "ten_crop")


def views(x: torch.Tensor, view: str, padding: int, black: torch.Tensor) -> list[torch.Tensor]:
    """The views of a normalised batch ``x``: itself; itself and its mirror; or the ten crops
    of it padded by ``padding`` pixels of ``black`` (the normalised value of a zero pixel,
    what the training crops padded with)."""
    if view == "centre":
        return [x]
    if view == "flip":
        return [x, x.flip(-1)]
    if view == "ten_crop":
        from torchvision.transforms.v2.functional import ten_crop
        padded = F.pad(x - black, [padding] * 4) + black
        return list(ten_crop(padded, list(x.shape[-2:])))
    raise ValueError(f"view must be one of {VIEWS}, got {view!r}")


@torch.no_grad()
def view_errors(model: torch.nn.Module, loader, views_: tuple[str, ...] = VIEWS,
                padding: int | None = None) -> dict[str, float]:
    """Test error in percent of ``model`` on ``loader`` for each view in ``views_``: the softmax
    averaged over a view's crops, then the most probable class. ``loader`` is a
    :class:`~cnnlib.loader.TensorLoader` (its normalisation tells what black is); ``padding``
    defaults to the loader's."""
    bad = [v for v in views_ if v not in VIEWS]
    if bad or not views_:
        raise ValueError(f"views must be some of {VIEWS}, got {views_!r}")
    if not hasattr(loader, "shift"):
        raise TypeError("view_errors needs a cnnlib TensorLoader (it reads the normalisation "
                        f"to pad with black), got {type(loader).__name__}")
    padding = loader.padding if padding is None else padding
    device = model_device(model)
    black = loader.shift.to(device)
    wrong = dict.fromkeys(views_, 0)
    total = 0
    with probing(model):
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            for view in views_:
                probs = sum(model(v).softmax(1) for v in views(x, view, padding, black))
                wrong[view] += (probs.argmax(1) != y).sum().item()
            total += len(y)
    return {view: 100 * count / total for view, count in wrong.items()}
