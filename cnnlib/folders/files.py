"""What every step needs: which files are images, how to open one, how a folder is laid out.

The other modules of :mod:`cnnlib.folders` all read files through here, so that they agree:
:func:`is_image_name` decides which names are images (ImageFolder's extensions, hidden files
never), :func:`load_rgb` opens one as upright RGB (what a model sees), :func:`split_folders`
tells a folder of splits from a folder of classes, and :func:`file_sha256` says when two files
hold the same bytes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

# torchvision's IMG_EXTENSIONS: the files ImageFolder considers (case-insensitive)
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
EXIF_ORIENTATION = 0x0112


def is_image_name(path) -> bool:
    """True for a file name with an image extension that is not hidden (``.DS_Store``...)."""
    name = Path(path).name
    return not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS)


def load_rgb(path, background=(255, 255, 255), upright: bool = True) -> Image.Image:
    """Open an image file as upright RGB: the EXIF rotation applied, transparency on ``background``.

    ``upright=False`` keeps the pixels as stored. Every mode PIL opens becomes 8-bit RGB through
    :func:`to_rgb` (16-bit and float images scaled, not clipped). A module-level function (not a
    lambda or a notebook function) on purpose: DataLoader workers started with ``spawn``
    (Windows, macOS) must be able to import it.
    """
    with Image.open(path) as image:
        if upright:
            image = ImageOps.exif_transpose(image)  # phones store pixels sideways + a rotation tag
        else:
            image.load()
        return to_rgb(image, background)


# Modes with more than 8 bits per pixel: PIL's convert("RGB") clips them at 255.
WIDE_MODES = ("I", "F", "I;16", "I;16L", "I;16B", "I;16N", "I;16S")
_TRANSPARENT_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


def to_rgb(image: Image.Image, background=(255, 255, 255)) -> Image.Image:
    """Any PIL image as 8-bit RGB: what a model sees, whatever the file stored.

    16-bit and float grayscale is scaled to 0..255 (:func:`to_8bit`), where PIL alone would clip
    every value above 255 to white; transparency (an alpha band, or a palette or grayscale
    image's transparent colour) is laid over ``background``; palette, 1-bit, CMYK, YCbCr, LAB
    and HSV images are converted by PIL.
    """
    if image.mode in WIDE_MODES:
        image = to_8bit(image)
    if image.mode == "La":  # premultiplied alpha: PIL converts it only to LA
        image = image.convert("LA")
    if image.mode in _TRANSPARENT_MODES or "transparency" in image.info:
        image = image.convert("RGBA")
        flat = Image.new("RGBA", image.size, (*background, 255))
        return Image.alpha_composite(flat, image).convert("RGB")
    return image.convert("RGB")


def _value_range(mode: str, values: np.ndarray) -> tuple[float, float]:
    """The range that maps to 0..255: the type's for 16-bit modes; for ``I`` (32-bit integers,
    as PIL opens some 16-bit files) and ``F`` (floats) the smallest usual range that holds every
    value (0..1, 0..255, 0..65535), else the image's own minimum..maximum."""
    if mode.startswith("I;16") and mode != "I;16S":
        return 0.0, 65535.0
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    usual = ((0.0, 1.0),) if mode == "F" else ()
    for top in usual + ((0.0, 255.0), (0.0, 65535.0)):
        if low >= top[0] and high <= top[1]:
            return top
    return low, high


def to_8bit(image: Image.Image) -> Image.Image:
    """A 16-bit, 32-bit integer or float image (``WIDE_MODES``) as 8-bit grayscale (``L``),
    scaled linearly from its value range (:func:`_value_range`) to 0..255 and rounded: a
    0..65535 gradient becomes a 0..255 gradient, not a white image. NaN becomes 0."""
    values = np.asarray(image).astype(np.float64)
    values = np.nan_to_num(values, nan=0.0, posinf=np.inf, neginf=-np.inf)
    finite = values[np.isfinite(values)]
    low, high = _value_range(image.mode, finite)
    scaled = (values - low) * (255.0 / (high - low)) if high > low else np.zeros_like(values)
    return Image.fromarray(np.clip(np.round(scaled), 0, 255).astype(np.uint8), mode="L")


def image_tensor(path, upright: bool = True) -> torch.Tensor:
    """A file as a uint8 3 x H x W tensor (through :func:`load_rgb`), e.g. for
    ``plots.show_images``."""
    array = np.asarray(load_rgb(path, upright=upright))
    return torch.from_numpy(array.copy()).permute(2, 0, 1)


def open_as(path, mode: str) -> Image.Image:
    """A file's pixels in ``mode``, with the file closed again (Windows cannot delete open
    files)."""
    with Image.open(path) as image:
        return image.convert(mode)


def relative_name(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` with / separators: the same name on every system."""
    return path.relative_to(root).as_posix()


def split_folders(root: Path) -> list[Path]:
    """The split folders if ``root`` holds splits (``train`` first, then the others sorted),
    else ``[root]``."""
    subfolders = [p for p in sorted(root.iterdir()) if p.is_dir() and not p.name.startswith(".")]
    if subfolders and all(any(q.is_dir() for q in p.iterdir()) for p in subfolders):
        return sorted(subfolders, key=lambda p: (p.name != "train", p.name))
    return [root]


def file_sha256(path) -> str:
    """The SHA-256 of a file's bytes: equal for byte-identical copies, whatever their names."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
