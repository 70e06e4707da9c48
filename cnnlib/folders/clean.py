"""Fixing the problems: a clean copy of a folder, every image upright RGB at one size.

:func:`normalise_images` writes each decodable image of a scan, except those it is told to
leave out (``Duplicates.redundant()``), through :func:`resize_and_crop`: no stretching.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from .._args import whole_number
from .files import load_rgb
from .outputs import check_apart, prepare_output, record_contents
from .scan import FolderScan


def resize_and_crop(image: Image.Image, size: int) -> Image.Image:
    """Shorter side to ``size`` (antialiased), then the centre ``size x size``: no stretching."""
    whole_number("size", size, 1, meaning="it is the side of the square images to write")
    scale = size / min(image.size)
    new = (max(size, round(image.width * scale)), max(size, round(image.height * scale)))
    image = image.resize(new, Image.Resampling.BICUBIC, reducing_gap=None)
    left, top = (new[0] - size) // 2, (new[1] - size) // 2
    return image.crop((left, top, left + size, top + size))


def normalise_images(scan: FolderScan, out, *, size: int = 32, exclude=(),
                     overwrite: bool = False) -> dict[Path, Path]:
    """Write every decodable image of ``scan`` to ``out`` as upright RGB ``size x size`` PNG.

    The folder layout and file names are kept (only the extension becomes .png); undecodable
    files, non-images, hidden folders and the paths in ``exclude`` (e.g.
    ``Duplicates.redundant()``) are left out. Images are read with :func:`load_rgb`, so 16-bit
    and float images are written scaled to 8 bits, not clipped. Returns
    ``{source path: written path}``, both absolute.

    ``out`` must lie outside the scanned folder (not it, not inside it, not holding it); with
    ``overwrite=True`` an existing ``out`` is deleted only if cnnlib wrote it and every file in it
    (:mod:`cnnlib.folders.outputs`): a folder of your own, or one you saved files into, is
    refused (naming your files), never deleted.
    """
    whole_number("size", size, 1, meaning="it is the side of the square images to write")
    out = check_apart(out, scan.root)
    prepare_output(out, overwrite)
    exclude = {Path(p).absolute() for p in exclude}
    written: dict[Path, Path] = {}
    try:
        _write(scan, out, size, exclude, written)
    finally:
        record_contents(out)  # what it wrote, however it ended: overwrite=True may replace it
    return written


def _write(scan: FolderScan, out: Path, size: int, exclude: set, written: dict) -> None:
    """Write the images of ``scan`` into ``out``, adding each to ``written`` as it is saved."""
    taken = set()
    for record in scan.images:
        if record.path in exclude or any(part.startswith(".") for part in record.rel.split("/")):
            continue
        target = out / Path(record.rel).with_suffix(".png")
        stem, n = target.stem, 1
        while target in taken:  # img_1.jpg and img_1.png in one folder: keep both
            target = target.with_name(f"{stem}_{n}.png")
            n += 1
        taken.add(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        resize_and_crop(load_rgb(record.path), size).save(target)
        written[record.path] = target.absolute()
