"""The same picture twice: exact copies by SHA-256 of the bytes, near copies by perceptual hash.

:func:`find_duplicates` compares the images of a :func:`~cnnlib.folders.scan_folder` scan:
files with identical bytes, then pictures whose hashes (:func:`dhash`, or
:func:`average_hash`) differ in at most a few bits (:func:`hamming_pairs`). The
:class:`Duplicates` it returns says which groups cross splits (a test image that is also a
training image) and which files to leave out. Not to be confused with
:func:`cnnlib.diagnose.shared_images`, which finds identical image *tensors* in two splits.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..tables import format_table
from .._args import whole_number
from .files import file_sha256, load_rgb
from .scan import FolderScan


def dhash(image: Image.Image, size: int = 8) -> np.ndarray:
    """Difference hash: ``size * size`` bits, "is this pixel brighter than its right neighbour?"
    on a ``(size + 1) x size`` grayscale thumbnail.

    Resizing, re-encoding and small colour shifts change few bits; a different picture changes
    about half. Compare two hashes by their Hamming distance (the number of differing bits).
    """
    gray = image.convert("L").resize((size + 1, size), Image.Resampling.LANCZOS)
    pixels = np.asarray(gray, dtype=np.int16)
    return (pixels[:, 1:] > pixels[:, :-1]).ravel()


def average_hash(image: Image.Image, size: int = 8) -> np.ndarray:
    """Average hash: ``size * size`` bits, "is this pixel brighter than the thumbnail's mean?"."""
    pixels = np.asarray(image.convert("L").resize((size, size), Image.Resampling.LANCZOS),
                        dtype=np.float32)
    return (pixels > pixels.mean()).ravel()


def hamming_pairs(hashes: np.ndarray, max_distance: int, block: int = 1024):
    """All pairs ``i < j`` of rows of a 0/1 matrix within ``max_distance`` differing bits.

    Distances as a matrix product, ``d = a·(1-b) + (1-a)·b``, a block of rows at a time: one
    NumPy call per block, not one Python step per pair.
    """
    bits = hashes.astype(np.float32)
    pairs = []
    for start in range(0, len(bits), block):
        a = bits[start:start + block]
        distance = a @ (1 - bits).T + (1 - a) @ bits.T
        rows, cols = np.nonzero(distance <= max_distance)
        keep = cols > rows + start
        pairs += [(int(i) + start, int(j), int(distance[i, j]))
                  for i, j in zip(rows[keep], cols[keep])]
    return pairs


@dataclass
class Duplicates:
    """Groups of files that hold the same picture; :meth:`redundant` says which to leave out."""

    records: list                              # the FileRecords compared
    exact: list                                # groups of indices with identical bytes
    near: list                                 # (i, j, distance) pairs of similar pictures
    groups: list                               # exact and near merged: lists of indices

    def paths(self, group) -> list[Path]:
        return [self.records[i].path for i in group]

    def pairs(self) -> set:
        """Every pair of files in a group, as frozensets of two paths."""
        return {frozenset((self.records[i].path, self.records[j].path))
                for g in self.groups for a, i in enumerate(g) for j in g[a + 1:]}

    def across_splits(self) -> list[list[int]]:
        """The groups with members in more than one split: leaks from training into testing."""
        return [g for g in self.groups if len({self.records[i].split for i in g}) > 1]

    def leaked(self, split: str = "test") -> list[Path]:
        """Files of ``split`` that have a copy (exact or near) in another split."""
        return [self.records[i].path for g in self.across_splits() for i in g
                if self.records[i].split == split]

    def redundant(self, split_order=("train",)) -> list[Path]:
        """All but one file of each group: keep the copy in the earliest split of
        ``split_order`` (so a test copy of a training image goes), then the largest image."""
        rank = {s: i for i, s in enumerate(split_order)}

        def preference(i):
            r = self.records[i]
            return rank.get(r.split, len(rank)), -(r.size[0] * r.size[1]), r.rel

        return [self.records[i].path for g in self.groups for i in sorted(g, key=preference)[1:]]

    def rows(self) -> list[dict]:
        in_exact = sum(len(g) for g in self.exact)
        return [{"found": "exact duplicate groups", "count": len(self.exact),
                 "files": in_exact},
                {"found": "near-duplicate pairs", "count": len(self.near),
                 "files": len({i for p in self.near for i in p[:2]})},
                {"found": "groups after merging", "count": len(self.groups),
                 "files": sum(len(g) for g in self.groups)},
                {"found": "groups across splits", "count": len(self.across_splits()),
                 "files": sum(len(g) for g in self.across_splits())},
                {"found": "files to leave out", "count": len(self.redundant()),
                 "files": len(self.redundant())}]

    def __repr__(self) -> str:
        return format_table(self.rows())


def find_duplicates(scan: FolderScan, max_distance: int = 4, hash_size: int = 8,
                    hash_function=dhash) -> Duplicates:
    """Exact duplicates by SHA-256, near duplicates by perceptual hash, over a scan's images.

    ``max_distance`` is the largest Hamming distance between two hashes (of ``hash_size ** 2``
    bits) still called a near duplicate: larger finds more re-encoded or resized copies and
    more different-but-similar pictures. Look at what it finds before deleting anything.
    """
    hash_size = whole_number("hash_size", hash_size, 2,
                             meaning="it is the side of the hash's thumbnail; 8 gives 64 bits")
    max_distance = whole_number("max_distance", max_distance, 0, hash_size ** 2,
                                meaning=f"it is the most differing bits of {hash_size ** 2} "
                                "still called a near duplicate; 0 = identical hashes")
    records = scan.images
    by_digest: dict[str, list[int]] = {}
    for i, record in enumerate(records):
        by_digest.setdefault(file_sha256(record.path), []).append(i)
    exact = [g for g in by_digest.values() if len(g) > 1]
    first = [g[0] for g in by_digest.values()]  # one file per distinct content
    hashes = np.stack([hash_function(load_rgb(records[i].path), hash_size) for i in first]) \
        if first else np.zeros((0, hash_size * hash_size), dtype=bool)
    near = [(first[i], first[j], d) for i, j, d in hamming_pairs(hashes, max_distance)]
    parent = list(range(len(records)))  # union-find: merge exact groups and near pairs

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in [(g[0], k) for g in exact for k in g[1:]] + [(i, j) for i, j, _ in near]:
        parent[find(i)] = find(j)
    members: dict[int, list[int]] = {}
    for i in range(len(records)):
        members.setdefault(find(i), []).append(i)
    groups = [g for g in members.values() if len(g) > 1]
    return Duplicates(records, exact, near, groups)
