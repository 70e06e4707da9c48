"""A loader that keeps the whole dataset as one uint8 tensor on the device.

Each batch is gathered, augmented (random crop with zero padding, horizontal flip) and
normalised in a few tensor operations: no Python per image, the same code on CPU and GPU.
The random numbers come from a CPU generator seeded once, so a given seed gives the same
shuffles and crops on every device.
"""

from __future__ import annotations

import torch

from ._args import whole_number


def random_crop_flip(images: torch.Tensor, offsets: torch.Tensor, flips: torch.Tensor,
                     padding: int) -> torch.Tensor:
    """Crop each image of a ``B x C x H x W`` batch at its own offset after zero padding.

    ``offsets`` is ``B x 2`` (row, column) in ``0..2*padding``; ``flips`` is a ``B`` bool mask.
    Equivalent to torchvision's ``RandomCrop(H, padding)`` + ``RandomHorizontalFlip`` per image.
    """
    b, c, h, w = images.shape
    padded = torch.nn.functional.pad(images, (padding,) * 4)
    width = w + 2 * padding
    device = images.device
    rows = offsets[:, 0, None] + torch.arange(h, device=device)  # B x H
    cols = offsets[:, 1, None] + torch.arange(w, device=device)  # B x W
    cols = torch.where(flips[:, None], cols.flip(1), cols)  # a flip reads the columns backwards
    # One flat index per output pixel, shared by all channels (expand copies nothing): a single
    # gather, several times faster on a CPU than indexing with four broadcast index tensors.
    index = (rows[:, :, None] * width + cols[:, None, :]).view(b, 1, h * w).expand(b, c, h * w)
    return padded.reshape(b, c, -1).gather(2, index).view(b, c, h, w)


def _check_images(images) -> None:
    """uint8 ``N x C x H x W`` with at least one image, or an error that says how to get there."""
    expected = "images must be a uint8 N x C x H x W tensor (pixels 0..255, as load_tensors gives)"
    if not isinstance(images, torch.Tensor):
        fix = ": convert with torch.from_numpy(array)" if hasattr(images, "__array__") else ""
        raise TypeError(f"{expected}, not {type(images).__name__}{fix}")
    looks_nhwc = images.ndim == 4 and images.shape[-1] in (1, 3, 4) and images.shape[1] > 4
    if images.dtype != torch.uint8 or images.ndim != 4 or looks_nhwc:
        fix = ""
        if looks_nhwc:  # 32 x 32 x 3 read as 32 channels of 32 x 3 pixels
            fix = ". It looks like N x H x W x C: use images.permute(0, 3, 1, 2)"
        elif images.ndim == 3:
            fix = ". One channel without its axis? Use images.unsqueeze(1)"
        elif images.is_floating_point():
            fix = (". Float pixels in 0..1? Use (images * 255).round().to(torch.uint8); the "
                   "loader scales by 1/255 and normalises itself")
        raise TypeError(f"{expected}, got {images.dtype} with shape {tuple(images.shape)}{fix}")
    if images.numel() == 0:
        raise ValueError(f"images is empty (shape {tuple(images.shape)}): a loader needs at least "
                         "one image of at least 1 x 1 pixel; check the subset or filter that "
                         "made it")


def _check_labels(labels, n: int, num_classes: int | None) -> torch.Tensor:
    """One label per image: class indices ``0 <= y < num_classes``, or finite float targets."""
    if not isinstance(labels, torch.Tensor):
        labels = torch.as_tensor(labels)  # a list or an array of labels is fine
    if labels.ndim == 0:
        raise ValueError(f"labels must hold one label per image ({n:,}), got the single number "
                         f"{labels.item()!r}")
    if len(labels) != n:
        raise ValueError(f"{n} images but {len(labels)} labels: one label per image, in the "
                         "same order")
    if labels.dtype == torch.bool or labels.is_complex():
        raise TypeError(f"labels must be class indices (an integer tensor) or float targets, got "
                        f"{labels.dtype}: convert class labels with labels.long()")
    if labels.is_floating_point():
        if num_classes is not None:
            raise TypeError(f"labels must be integer class indices for {num_classes} classes, got "
                            f"{labels.dtype}: convert with labels.long() (float labels are "
                            "regression targets)")
        if not torch.isfinite(labels).all():
            raise ValueError(f"labels hold {int((~torch.isfinite(labels)).sum())} NaN or infinite "
                             "target(s): fix or drop those examples")
        return labels  # regression targets, as chapter 9 uses them
    if labels.ndim != 1:
        raise ValueError(f"integer labels must be one class index per image (shape ({n},)), got "
                         f"shape {tuple(labels.shape)}: for one-hot rows use labels.argmax(1)")
    low, high = int(labels.min()), int(labels.max())
    if low < 0:
        raise ValueError(f"labels must be class indices >= 0, got {low} (at index "
                         f"{int((labels == low).nonzero()[0]):,}): classes count from 0; fix "
                         "the labels (labels - labels.min() if they count from 1 or -1)")
    if num_classes is not None and high >= num_classes:
        raise ValueError(f"labels must be class indices from 0 to {num_classes - 1} "
                         f"(num_classes={num_classes}), got {high} (at index "
                         f"{int((labels == high).nonzero()[0]):,}): fix the labels, or pass the "
                         "right num_classes")
    return labels.long()


def _per_channel(name: str, values, default: float, channels: int) -> torch.Tensor:
    """``mean`` or ``std`` as one finite float per channel (a single number serves one channel)."""
    if values is None:
        return torch.tensor([default] * channels)
    try:  # the dtype torch.tensor would give (float32 for Python floats), as before the checks
        tensor = torch.as_tensor(values).flatten()
    except (TypeError, ValueError, RuntimeError):
        tensor = None
    if tensor is None or tensor.dtype == torch.bool or tensor.is_complex():
        raise TypeError(f"{name} must be numbers, one per channel, got {values!r}")
    if not tensor.is_floating_point():
        tensor = tensor.float()
    if len(tensor) != channels:
        raise ValueError(f"mean and std need one value per channel ({channels}), got "
                         f"{len(tensor)} {name} value(s): {_shown(tensor)}")
    if not torch.isfinite(tensor).all():
        raise ValueError(f"{name} must be finite, got {_shown(tensor)}")
    return tensor


def _shown(values: torch.Tensor) -> str:
    """Per-channel values as typed, not as float32 stores them: (33.3,), not (33.29999923,)."""
    items = [f"{v:.6g}" for v in values.tolist()]
    return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"


def _check_normalisation(mean: torch.Tensor, std: torch.Tensor) -> None:
    if (std <= 0).any():
        raise ValueError(f"std must be > 0 for every channel, got {_shown(std)}: a std "
                         "of 0 divides by 0 (batches of inf/NaN), a negative one flips the images. "
                         "Use the training images' std (cnnlib.channel_stats); a channel that "
                         "is constant has std 0: drop it, or give it std 1")
    if ((mean < 0) | (mean > 1)).any():
        raise ValueError(f"mean must be on the 0..1 scale (the loader divides the pixels by 255 "
                         f"first), got {_shown(mean)}: for statistics of 0..255 pixels, "
                         "divide mean and std by 255 (cnnlib.channel_stats gives them on 0..1)")
    if (std > 1).any():  # pixels in 0..1 have a std of at most 0.5
        raise ValueError(f"std must be on the 0..1 scale (the loader divides the pixels by 255 "
                         f"first), where no channel's std exceeds 0.5; got {_shown(std)}: for "
                         "statistics of 0..255 pixels, divide std by 255 (cnnlib.channel_stats "
                         "gives them on 0..1)")


def _check_device(device) -> torch.device:
    """A device this machine has: ``"cuda"`` without a GPU is an error that says what to pass."""
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"device must be a device such as 'cpu' or 'cuda', got {device!r}: "
                         f"{error}") from None
    present = {"cuda": torch.cuda.is_available, "mps": torch.backends.mps.is_available}
    if device.type in present and not present[device.type]():
        raise ValueError(f"device={str(device)!r}, but this machine has no {device.type} device "
                         f"(torch.{'cuda' if device.type == 'cuda' else 'backends.mps'}."
                         "is_available() is False): pass device=run.device (the device "
                         "cnnlib.setup() chose), or device='cpu'")
    return device


class TensorLoader:
    """Iterates ``(x, y)`` batches: ``x`` float, normalised, on ``device``; ``y`` the labels.

    ``labels`` are class indices (any integer dtype, ``>= 0``; given as int64), or float
    regression targets, passed through as they are. With ``num_classes`` they must be class
    indices below it. ``mean``/``std`` are per channel, on the 0..1 scale; every argument is
    checked here, so that a mistake fails at the call that made it, not in the first batch.
    ``augment`` crops and flips each batch at random; ``flip=False`` keeps the crops only.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 128,
                 shuffle: bool = True, augment: bool = False, mean=None, std=None,
                 device: str | torch.device = "cpu", seed: int = 0, padding: int = 4,
                 drop_last: bool = False, channels_last: bool = False,
                 num_classes: int | None = None, flip: bool = True):
        _check_images(images)
        mean_alone = mean is not None and std is None
        if num_classes is not None:
            whole_number("num_classes", num_classes, 1)
        batch_size = whole_number("batch_size", batch_size, 1,
                                  meaning="it is the number of images per batch, e.g. 128")
        padding = whole_number("padding", padding, 0,
                               meaning="it is the zero padding of the random crop (4 for CIFAR)")
        seed = whole_number("seed", seed)
        labels = _check_labels(labels, len(images), num_classes)
        if drop_last and batch_size > len(images):
            raise ValueError(f"drop_last=True with batch_size {batch_size:,} > {len(images):,} "
                             "images leaves no batch at all: lower batch_size, or drop_last=False")
        channels = images.shape[1]
        mean = _per_channel("mean", mean, 0.0, channels)
        std = _per_channel("std", std, 1.0, channels)
        _check_normalisation(mean, std)
        if mean_alone:
            raise ValueError("mean given without std: the loader normalises with both "
                             "((x - mean) / std), and a missing std would silently be 1, so the "
                             "images would be centred but not scaled. Pass both, e.g. "
                             "mean, std = cnnlib.channel_stats(train_images)")
        self.device = _check_device(device)
        self.images = images.to(self.device)
        self.labels = labels.to(self.device)
        self.batch_size, self.shuffle, self.augment = batch_size, shuffle, augment
        self.flip = flip  # augment's horizontal flips (off for digits)
        self.padding, self.drop_last, self.channels_last = padding, drop_last, channels_last
        self.num_classes = num_classes
        # x/255 then (x - mean)/std, folded into one multiply-add per element
        self.scale = (1 / (255 * std)).view(1, -1, 1, 1).to(self.device, torch.float32)
        self.shift = (-mean / std).view(1, -1, 1, 1).to(self.device, torch.float32)
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        n = len(self.labels)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    @property
    def dataset_size(self) -> int:
        return len(self.labels)

    def state_dict(self) -> dict:
        """The generator state, so that a resumed run draws the same batches."""
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])

    def _to_device(self, t: torch.Tensor) -> torch.Tensor:
        """A small CPU tensor on the device. On CUDA, through pinned memory without blocking: a
        plain copy would make the CPU wait for the GPU at every batch, so it could never queue
        the next step's work ahead."""
        if self.device.type == "cuda":
            return t.pin_memory().to(self.device, non_blocking=True)
        return t.to(self.device)

    def __iter__(self):
        n = len(self.labels)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        order = order.to(self.device)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            index = order[start:start + self.batch_size]
            x = self.images.index_select(0, index)  # = images[index], many times faster on a CPU
            if self.augment:
                b = len(index)
                offsets = torch.randint(0, 2 * self.padding + 1, (b, 2), generator=self.generator)
                flips = torch.rand(b, generator=self.generator) < 0.5  # drawn even unflipped:
                flips &= self.flip  # the same random stream, whatever flip says
                x = random_crop_flip(x, self._to_device(offsets), self._to_device(flips),
                                     self.padding)
            x = x.float().mul_(self.scale).add_(self.shift)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, self.labels.index_select(0, index)
