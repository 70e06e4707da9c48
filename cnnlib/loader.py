"""A loader that keeps the whole dataset as one uint8 tensor on the device.

Each batch is gathered, augmented (random crop with zero padding, horizontal flip) and
normalised in a few tensor operations: no Python per image, the same code on CPU and GPU.
The random numbers come from a CPU generator seeded once, so a given seed gives the same
shuffles and crops on every device.
"""

from __future__ import annotations

import torch


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


class TensorLoader:
    """Iterates ``(x, y)`` batches: ``x`` float, normalised, on ``device``; ``y`` int64 labels."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 128,
                 shuffle: bool = True, augment: bool = False, mean=None, std=None,
                 device: str | torch.device = "cpu", seed: int = 0, padding: int = 4,
                 drop_last: bool = False, channels_last: bool = False):
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise TypeError(f"images must be a uint8 N x C x H x W tensor, got {images.dtype} "
                            f"with shape {tuple(images.shape)}")
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.device = torch.device(device)
        self.images = images.to(self.device)
        self.labels = labels.to(self.device)
        self.batch_size, self.shuffle, self.augment = batch_size, shuffle, augment
        self.padding, self.drop_last, self.channels_last = padding, drop_last, channels_last
        channels = images.shape[1]
        mean = torch.tensor(mean if mean is not None else [0.0] * channels).flatten()
        std = torch.tensor(std if std is not None else [1.0] * channels).flatten()
        if len(mean) != channels or len(std) != channels:
            raise ValueError(f"mean and std need one value per channel ({channels}), "
                             f"got {len(mean)} and {len(std)}")
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
                flips = torch.rand(b, generator=self.generator) < 0.5
                x = random_crop_flip(x, self._to_device(offsets), self._to_device(flips),
                                     self.padding)
            x = x.float().mul_(self.scale).add_(self.shift)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, self.labels.index_select(0, index)
