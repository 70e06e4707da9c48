"""What every step needs: which files are images, how to open one, how a folder is laid out.

The other modules of :mod:`cnnlib.folders` all read files through here, so that they agree:
:func:`is_image_name` decides which names are images (ImageFolder's extensions, hidden files
never), :func:`load_rgb` opens one as upright RGB (what a model sees), :func:`split_folders`
tells a folder of splits from a folder of classes, and :func:`file_sha256` says when two files
hold the same bytes.
"""

from __future__ import annotations

import hashlib
import shutil
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

    ``upright=False`` keeps the pixels as stored. A module-level function (not a lambda or a
    notebook function) on purpose: DataLoader workers started with ``spawn`` (Windows, macOS)
    must be able to import it.
    """
    with Image.open(path) as image:
        if upright:
            image = ImageOps.exif_transpose(image)  # phones store pixels sideways + a rotation tag
        else:
            image.load()
        if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
            image = image.convert("RGBA")
            flat = Image.new("RGBA", image.size, (*background, 255))
            return Image.alpha_composite(flat, image).convert("RGB")
        return image.convert("RGB")


def image_tensor(path, upright: bool = True) -> torch.Tensor:
    """A file as a uint8 3 x H x W tensor (through :func:`load_rgb`), e.g. for
    ``plots.show_images``."""
    array = np.asarray(load_rgb(path, upright=upright))
    return torch.from_numpy(array.copy()).permute(2, 0, 1)


def prepare_output(root: Path, overwrite: bool) -> None:
    """An empty folder ``root`` to write into; a non-empty one is only deleted if asked to."""
    if root.exists() and any(root.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{root} exists and is not empty; pass overwrite=True to delete "
                                  "it and write it again, or choose another folder")
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)


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
