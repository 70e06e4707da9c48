"""Your own images, from a folder of files to a trained model: find the mess, fix it, load it.

A folder of photos collected by hand is never as clean as MNIST. Files are cut short or are not
images at all, some are grayscale or carry an alpha channel, sizes differ, phones store pixels
sideways with an EXIF tag to rotate them, the same picture turns up twice (sometimes once in the
training and once in the test folder), a few sit in the wrong class folder, and one class has far
fewer examples than the others. Each step finds or fixes one of these, with a report; one
module per step, every name importable from here (``cnnlib.folders.scan_folder``):

    files       what every step shares: is_image_name, load_rgb (upright RGB; 16-bit and
                float images scaled to 8 bits by to_rgb), image_tensor, file_sha256
    simulate    the book's simulation of a real folder: export_image_folder writes a dataset
                as files, make_messy damages them in recorded ways (a Mess, the answer key),
                detection_scores scores a cleaning against it
    scan        scan_folder opens every file and lists what it found (a FolderScan)
    duplicates  find_duplicates: exact copies (SHA-256 of the bytes) and near copies (a
                perceptual hash, dhash) among a scan's files
    clean       normalise_images writes a clean copy: RGB, upright, one size, duplicates left out
    outputs     where a step writes: never into what it reads; overwrite=True deletes only a
                folder that cnnlib wrote
    load        checked_image_folder loads a folder like torchvision's ImageFolder, but
                undecodable files raise an error or are skipped with a warning, naming them,
                never silently; stable_split splits by file hash (and warns when a class
                ends up on one side); class counts and statistics
    predict     predict_file classifies one new image file with the trained model

Training on the result uses two helpers that live elsewhere and are re-exported here for the
code that imports them from this package: :class:`cnnlib.callbacks.BestCheckpoint` and
:func:`cnnlib.diagnose.losses_per_example`.
"""

from ..callbacks import BestCheckpoint
from ..diagnose import losses_per_example
from .clean import normalise_images, resize_and_crop
from .duplicates import Duplicates, average_hash, dhash, find_duplicates, hamming_pairs
from .files import (EXIF_ORIENTATION, IMAGE_EXTENSIONS, WIDE_MODES, file_sha256, image_tensor,
                    is_image_name, load_rgb, to_8bit, to_rgb)
from .load import (CheckedImageFolder, ImageFiles, ImageFolderError, ImageFolderWarning,
                   OneSidedClassWarning, SkippedImagesWarning, UndecodableImageError,
                   checked_image_folder, class_counts, dataset_labels, image_channel_stats,
                   stable_split, stack_images)
from .predict import Prediction, predict_file
from .scan import FileRecord, FolderScan, check_image, scan_folder
from .simulate import (Mess, detection_scores, export_image_folder, jpeg_copy, make_messy,
                       sample_per_class)

__all__ = [
    "BestCheckpoint", "CheckedImageFolder", "Duplicates", "EXIF_ORIENTATION", "FileRecord",
    "FolderScan", "IMAGE_EXTENSIONS", "ImageFiles", "ImageFolderError", "ImageFolderWarning",
    "Mess", "OneSidedClassWarning", "Prediction", "SkippedImagesWarning",
    "UndecodableImageError", "WIDE_MODES", "average_hash", "check_image",
    "checked_image_folder", "class_counts", "dataset_labels", "detection_scores", "dhash",
    "export_image_folder", "file_sha256", "find_duplicates", "hamming_pairs",
    "image_channel_stats", "image_tensor", "is_image_name", "jpeg_copy", "load_rgb",
    "losses_per_example", "make_messy", "normalise_images", "predict_file", "resize_and_crop",
    "sample_per_class", "scan_folder", "stable_split", "stack_images", "to_8bit", "to_rgb",
]
