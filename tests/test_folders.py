"""cnnlib.folders: every kind of mess is found, fixed or refused with a clear message."""

from __future__ import annotations

import pickle
import shutil
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Subset
from torchvision import transforms as T

from cnnlib import callbacks, data, diagnose, folders, plots
from cnnlib.checkpoint import read_checkpoint
from cnnlib.train import History


def smooth_image(seed: int, size: int = 24, mode: str = "RGB") -> Image.Image:
    """A smooth random picture: blown-up 4x4 noise, so that resizing keeps what it shows."""
    rng = np.random.default_rng(seed)
    small = Image.fromarray(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8))
    return small.resize((size, size), Image.Resampling.BICUBIC).convert(mode)


@pytest.fixture
def messy(tmp_path):
    """train/ and test/ with one example of each problem, and what each file is."""
    root = tmp_path / "raw"
    files = {}
    for split, seeds in (("train", range(0, 6)), ("test", range(100, 104))):
        for label in ("cat", "dog"):
            folder = root / split / label
            folder.mkdir(parents=True)
            for seed in seeds:
                smooth_image(seed + (50 if label == "dog" else 0)).save(folder / f"{seed}.png")
    train_cat = root / "train" / "cat"
    files["truncated"] = train_cat / "truncated.png"
    files["truncated"].write_bytes((train_cat / "0.png").read_bytes()[:60])
    files["html"] = train_cat / "page.jpg"
    files["html"].write_bytes(b"<html><body>403 Forbidden</body></html>")
    files["empty_file"] = train_cat / "empty.jpg"
    files["empty_file"].write_bytes(b"")
    files["gray"] = train_cat / "gray.png"
    smooth_image(7, mode="L").save(files["gray"])
    files["rgba"] = train_cat / "rgba.png"
    smooth_image(8, mode="RGBA").save(files["rgba"])
    files["large"] = train_cat / "large.png"
    smooth_image(9, size=64).save(files["large"])
    files["rotated"] = train_cat / "rotated.jpg"
    exif = Image.Exif()
    exif[folders.EXIF_ORIENTATION] = 6
    smooth_image(10, size=24).transpose(Image.Transpose.ROTATE_90).save(files["rotated"], exif=exif)
    files["exact_copy"] = root / "test" / "cat" / "copy_of_1.png"
    shutil.copyfile(train_cat / "1.png", files["exact_copy"])
    files["near_copy"] = root / "train" / "dog" / "near_of_52.jpg"
    Image.open(root / "train" / "dog" / "2.png").resize((20, 20)).save(files["near_copy"],
                                                                        quality=80)
    files["ds_store"] = root / "train" / ".DS_Store"
    files["ds_store"].write_bytes(b"\x00\x00\x00\x01Bud1" + bytes(100))
    files["notes"] = train_cat / "notes.txt"
    files["notes"].write_text("some notes\n")
    files["checkpoints"] = root / "train" / ".ipynb_checkpoints"
    files["checkpoints"].mkdir()
    return root, files


def test_scan_finds_every_kind_of_problem(messy):
    root, files = messy
    scan = folders.scan_folder(root)
    corrupt = {r.path for r in scan.corrupt}
    assert corrupt == {files[k].absolute() for k in ("truncated", "html", "empty_file")}
    assert all(r.error and str(r.path) not in r.error for r in scan.corrupt)  # short reasons
    assert {r.path for r in scan.non_images} == {files["ds_store"].absolute(),
                                                  files["notes"].absolute()}
    modes = {r.path.name: r.mode for r in scan.images}
    assert modes["gray.png"] == "L" and modes["rgba.png"] == "RGBA" and modes["0.png"] == "RGB"
    assert scan.sizes()[(24, 24)] >= 20 and scan.sizes()[(64, 64)] == 1
    assert [r.path for r in scan.rotated] == [files["rotated"].absolute()]
    assert files["checkpoints"] in scan.hidden_folders
    assert {r.split for r in scan.records} == {"train", "test"}
    text = scan.summary()
    assert "undecodable                  3" in text and "not images" in text
    assert "train/cat/truncated.png: " in text.split("undecodable:")[1]
    assert "hidden or empty folders" in text and ".ipynb_checkpoints" in text


def test_dhash_survives_resizing_and_recompression_but_not_a_different_picture():
    image = smooth_image(1)
    same = folders.dhash(image)
    assert same.shape == (64,) and same.dtype == bool
    assert (same != folders.dhash(image)).sum() == 0
    resized = image.resize((30, 30))
    assert (same != folders.dhash(resized)).sum() <= 4
    others = [(same != folders.dhash(smooth_image(s))).sum() for s in range(2, 12)]
    assert min(others) > 8
    assert folders.average_hash(image).shape == (64,)


def test_hamming_pairs_matches_a_loop():
    rng = np.random.default_rng(0)
    bits = rng.integers(0, 2, (50, 16)).astype(bool)
    bits[7] = bits[3]
    bits[9, 1:] = bits[2, 1:]
    expected = {(i, j, int((bits[i] != bits[j]).sum())) for i in range(50) for j in range(i + 1, 50)
                if (bits[i] != bits[j]).sum() <= 2}
    assert set(folders.hamming_pairs(bits, 2, block=8)) == expected


def test_find_duplicates_exact_near_and_leaks(messy):
    root, files = messy
    scan = folders.scan_folder(root)
    dups = folders.find_duplicates(scan)
    exact = [set(dups.paths(g)) for g in dups.exact]
    assert {(root / "train" / "cat" / "1.png").absolute(), files["exact_copy"].absolute()} in exact
    pair = frozenset({(root / "train" / "dog" / "2.png").absolute(), files["near_copy"].absolute()})
    assert pair in dups.pairs()
    assert files["exact_copy"].absolute() in dups.leaked("test")
    redundant = set(dups.redundant())
    assert files["exact_copy"].absolute() in redundant  # the test copy goes, the train one stays
    assert (root / "train" / "cat" / "1.png").absolute() not in redundant
    assert files["near_copy"].absolute() in redundant   # the smaller image goes
    assert len(dups.groups) == 2, "different pictures must not be grouped"
    assert "groups across splits" in repr(dups)


def test_detection_scores():
    assert folders.detection_scores({1, 2, 3, 4}, {1, 2, 5}) == {
        "injected": 3, "found": 4, "correct": 2, "precision": 0.5, "recall": 2 / 3}


def test_normalise_images_writes_upright_rgb_squares_and_leaves_out_what_it_should(messy, tmp_path):
    root, files = messy
    scan = folders.scan_folder(root)
    out = tmp_path / "clean"
    written = folders.normalise_images(scan, out, size=16, exclude=[files["exact_copy"]])
    assert files["exact_copy"].absolute() not in written
    assert all(files[k].absolute() not in written for k in ("truncated", "html", "notes"))
    for target in written.values():
        with Image.open(target) as image:
            assert image.mode == "RGB" and image.size == (16, 16) and target.suffix == ".png"
    assert not (out / "train" / ".ipynb_checkpoints").exists()
    upright = np.asarray(Image.open(written[files["rotated"].absolute()]), dtype=float)
    expected = np.asarray(folders.resize_and_crop(smooth_image(10, 24), 16), dtype=float)
    assert np.abs(upright - expected).mean() < 12, "the EXIF rotation must be applied"
    with pytest.raises(FileExistsError, match="overwrite=True"):
        folders.normalise_images(scan, out)


def test_normalise_keeps_both_files_whose_names_differ_only_in_extension(tmp_path):
    folder = tmp_path / "raw" / "cat"
    folder.mkdir(parents=True)
    smooth_image(1).save(folder / "a.png")
    smooth_image(2).save(folder / "a.jpg")
    written = folders.normalise_images(folders.scan_folder(tmp_path / "raw"), tmp_path / "out")
    assert sorted(p.name for p in written.values()) == ["a.png", "a_1.png"]


def test_load_rgb_composites_transparency_and_keeps_rotation_optional(tmp_path):
    rgba = Image.new("RGBA", (4, 4), (10, 20, 30, 0))
    rgba.save(tmp_path / "clear.png")
    assert folders.load_rgb(tmp_path / "clear.png").getpixel((0, 0)) == (255, 255, 255)
    exif = Image.Exif()
    exif[folders.EXIF_ORIENTATION] = 6
    Image.new("RGB", (8, 4)).save(tmp_path / "r.jpg", exif=exif)
    assert folders.load_rgb(tmp_path / "r.jpg").size == (4, 8)
    assert folders.load_rgb(tmp_path / "r.jpg", upright=False).size == (8, 4)
    assert folders.image_tensor(tmp_path / "r.jpg").shape == (3, 8, 4)


def test_checked_image_folder_raises_naming_the_undecodable_files(messy):
    root, files = messy
    with pytest.raises(folders.UndecodableImageError, match="3 image file") as error:
        folders.checked_image_folder(root / "train")
    assert "truncated.png" in str(error.value) and "on_error='skip'" in str(error.value)
    assert {p for p, _ in error.value.files} == {files[k].absolute()
                                                 for k in ("truncated", "html", "empty_file")}


def test_checked_image_folder_skips_with_a_warning_and_ignores_hidden_folders(messy):
    root, files = messy
    with pytest.warns(folders.SkippedImagesWarning, match="skipped 3"):
        dataset = folders.checked_image_folder(root / "train", T.ToTensor(), on_error="skip")
    assert dataset.classes == ["cat", "dog"]  # not .ipynb_checkpoints
    assert len(dataset.skipped) == 3
    assert files["notes"].absolute() in dataset.ignored
    paths = {p for p, _ in dataset.samples}
    assert str(files["truncated"].absolute()) not in paths
    assert str(files["gray"].absolute()) in paths
    x, y = dataset[0]
    assert x.shape[0] == 3 and isinstance(y, int)
    clone = pickle.loads(pickle.dumps(dataset))  # spawn workers pickle the dataset
    assert len(clone) == len(dataset)


def test_checked_image_folder_on_a_clean_folder_is_silent(messy, tmp_path):
    root, _ = messy
    folders.normalise_images(folders.scan_folder(root), tmp_path / "clean", size=8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dataset = folders.checked_image_folder(tmp_path / "clean" / "test")
    assert dataset.classes == ["cat", "dog"] and dataset.skipped == []


def test_checked_image_folder_layout_errors_say_what_was_expected_and_found(tmp_path):
    with pytest.raises(folders.ImageFolderError, match="no folder"):
        folders.checked_image_folder(tmp_path / "missing")
    (tmp_path / "flat").mkdir()
    smooth_image(0).save(tmp_path / "flat" / "a.png")
    with pytest.raises(folders.ImageFolderError, match=r"no class folders; found 1 file.*a\.png"):
        folders.checked_image_folder(tmp_path / "flat")
    (tmp_path / "nothing").mkdir()
    with pytest.raises(folders.ImageFolderError, match="it is empty"):
        folders.checked_image_folder(tmp_path / "nothing")
    for label in ("cat", "dog"):
        (tmp_path / "one_empty" / label).mkdir(parents=True)
    smooth_image(0).save(tmp_path / "one_empty" / "cat" / "a.png")
    (tmp_path / "one_empty" / "dog" / "notes.txt").write_text("x")
    with pytest.raises(folders.ImageFolderError,
                       match=r"(?s)1 class folder.*dog/: notes\.txt \(not image\).*Fix"):
        folders.checked_image_folder(tmp_path / "one_empty")


def test_checked_image_folder_refuses_a_folder_of_splits(messy):
    root, _ = messy
    with pytest.raises(folders.ImageFolderError, match="folder of splits"):
        folders.checked_image_folder(root, on_error="skip")
    with pytest.raises(ValueError, match="on_error"):
        folders.checked_image_folder(root, on_error="ignore")


def test_stable_split_keeps_every_old_file_on_its_side_when_files_are_added(tmp_path):
    names = [tmp_path / f"img_{i}.png" for i in range(400)]
    train, val = folders.stable_split(names[:300], 0.2, root=tmp_path)
    assert sorted(train + val) == list(range(300)) and 30 < len(val) < 90
    train2, val2 = folders.stable_split(names, 0.2, root=tmp_path)
    assert set(val) == {i for i in val2 if i < 300}
    assert folders.stable_split(names, 0.2, root=tmp_path, salt="b")[1] != val2
    for i, name in enumerate(names[:20]):
        name.write_bytes(b"same" if i % 2 else bytes([i]))
    _, val_c = folders.stable_split(names[:20], 0.5, key="content")
    odd = {i for i in range(1, 20, 2)}
    assert odd <= set(val_c) or not odd & set(val_c)  # identical bytes: the same side
    with pytest.raises(ValueError, match="val_fraction"):
        folders.stable_split(names, 1.5)


def test_class_counts_stats_and_stacking(messy, tmp_path):
    root, _ = messy
    folders.normalise_images(folders.scan_folder(root), tmp_path / "clean", size=8)
    assert folders.class_counts(tmp_path / "clean" / "test") == {"cat": 5, "dog": 4}
    dataset = folders.checked_image_folder(tmp_path / "clean" / "test", T.PILToTensor())
    assert folders.class_counts(dataset) == {"cat": 5, "dog": 4}
    assert folders.class_counts(Subset(dataset, [0, 1, 8])) == {"cat": 2, "dog": 1}
    images, labels = folders.stack_images(dataset)
    assert images.shape == (9, 3, 8, 8) and images.dtype == torch.uint8
    assert labels.tolist() == [0] * 5 + [1] * 4
    mean, std = folders.image_channel_stats(dataset)
    expected_mean, expected_std = data.channel_stats(images)
    np.testing.assert_allclose(mean, expected_mean, rtol=1e-9)
    np.testing.assert_allclose(std, expected_std, rtol=1e-9)
    with pytest.raises(TypeError, match="PILToTensor"):
        folders.image_channel_stats(folders.checked_image_folder(tmp_path / "clean" / "test"))


def test_export_and_make_messy_record_what_the_scan_then_finds(tmp_path):
    g = torch.Generator().manual_seed(0)
    small = torch.randint(0, 256, (60, 3, 4, 4), dtype=torch.uint8, generator=g)
    images = torch.nn.functional.interpolate(small.float(), size=16, mode="bilinear",
                                             align_corners=False).round().to(torch.uint8)
    labels = torch.arange(60) % 3
    root = tmp_path / "raw"
    classes = ("a", "b", "c")
    paths = folders.export_image_folder(images[:45], labels[:45], classes, root / "train")
    folders.export_image_folder(images[45:], labels[45:], classes, root / "test", ids=range(45, 60))
    assert len(paths) == 45 and paths[0].name == "img_00000.png"
    with pytest.raises(FileExistsError):
        folders.export_image_folder(images[:3], labels[:3], classes, root / "train")
    mess = folders.make_messy(root, seed=1, minority="c", minority_keep=0.4, mislabeled=2,
                              grayscale=2, rgba=2, resized=2, rotated=1, exact_duplicates=2,
                              near_duplicates=2, corrupt=3)
    assert mess.removed == {"c": 9 + 3}
    assert all(path.parent.name != true for path, true in mess.mislabeled.items())
    scan = folders.scan_folder(root)
    dups = folders.find_duplicates(scan)
    scores = {row["problem"]: row for row in mess.score(scan, dups)}
    for problem in ("undecodable", "not images", "grayscale", "RGBA", "EXIF-rotated",
                    "hidden or empty folders", "other sizes"):
        assert scores[problem]["recall"] == "100%", (problem, scores[problem])
    assert scores["duplicate pairs"]["correct"] >= 3
    assert "mislabeled" in repr(mess)
    again = tmp_path / "again"  # the same call on the same folder does the same damage
    folders.export_image_folder(images[:45], labels[:45], classes, again / "train")
    folders.export_image_folder(images[45:], labels[45:], classes, again / "test", ids=range(45, 60))
    twin = folders.make_messy(again, seed=1, minority="c", minority_keep=0.4, mislabeled=2,
                              grayscale=2, rgba=2, resized=2, rotated=1, exact_duplicates=2,
                              near_duplicates=2, corrupt=3)
    assert twin.rows() == mess.rows()
    assert ({p.relative_to(again) for p in twin.mislabeled}
            == {p.relative_to(root.absolute()) for p in mess.mislabeled})


def test_sample_per_class_and_jpeg_copy():
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
    index = folders.sample_per_class(labels, [0, 2], 2, seed=0)
    assert index.tolist() == sorted(index.tolist()) and len(index) == 4
    assert sorted(labels[index].tolist()) == [0, 0, 2, 2]
    assert torch.equal(index, folders.sample_per_class(labels, [0, 2], 2, seed=0))
    with pytest.raises(ValueError, match="fewer than"):
        folders.sample_per_class(labels, [1], 5)
    copy = folders.jpeg_copy(smooth_image(0), quality=60)
    assert copy.format == "JPEG" and copy.size == (24, 24)


@pytest.fixture
def tiny_model_and_data(tmp_path):
    root = tmp_path / "clean"
    for label, seeds in (("cat", range(4)), ("dog", range(50, 54))):
        (root / label).mkdir(parents=True)
        for seed in seeds:
            smooth_image(seed, size=8).save(root / label / f"{seed}.png")
    transform = T.Compose([T.Resize(8), T.CenterCrop(8), T.ToTensor()])
    dataset = folders.checked_image_folder(root, transform)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 2))
    return model, dataset, transform, root


def test_losses_per_example_and_best_checkpoint(tiny_model_and_data, tmp_path):
    model, dataset, _, _ = tiny_model_and_data
    losses, preds, probs = folders.losses_per_example(model, dataset, batch_size=3)
    assert losses.shape == preds.shape == probs.shape == (8,)
    x = torch.stack([dataset[i][0] for i in range(8)])
    y = torch.tensor([dataset[i][1] for i in range(8)])
    with torch.no_grad():
        expected = nn.functional.cross_entropy(model(x), y, reduction="none")
    torch.testing.assert_close(losses, expected)
    best = folders.BestCheckpoint(tmp_path / "best.pt", model, extra={"classes": ["cat", "dog"]})
    history = History()
    for epoch, acc in enumerate((0.5, 0.75, 0.6), 1):
        history.rows.append({"epoch": epoch, "test_acc": acc})
        best(epoch, history)
    assert best.epoch == 2 and best.best == 0.75 and "epoch 2" in repr(best)
    state = read_checkpoint(tmp_path / "best.pt")
    assert state["epoch"] == 2 and state["extra"]["classes"] == ["cat", "dog"]


def test_the_training_helpers_live_elsewhere_and_are_still_importable_from_here():
    assert folders.BestCheckpoint is callbacks.BestCheckpoint
    assert folders.losses_per_example is diagnose.losses_per_example
    assert "callback(epoch, history)" in callbacks.__doc__


def test_predict_file_and_show_prediction(tiny_model_and_data, tmp_path):
    model, dataset, transform, root = tiny_model_and_data
    photo = tmp_path / "photo.jpg"
    smooth_image(3, size=40).save(photo)  # any size: the transform resizes
    prediction = folders.predict_file(model, photo, transform, dataset.classes)
    assert prediction.label in ("cat", "dog")
    assert abs(sum(prediction.probabilities.values()) - 1) < 1e-5
    assert prediction.probability == max(prediction.probabilities.values())
    assert str(prediction).startswith("photo.jpg: ") and str(prediction).endswith(" %")
    fig = plots.show_prediction(prediction.image, prediction.probabilities)
    assert fig.axes[0].get_title().startswith(prediction.label)
    plt.close(fig)
    with pytest.raises(ValueError, match="class names"):
        folders.predict_file(model, photo, transform, ["a", "b", "c"])
    with pytest.raises(FileNotFoundError, match="no image file"):
        folders.predict_file(model, tmp_path / "nope.jpg", transform, dataset.classes)


def test_plot_class_counts_one_or_several_splits():
    fig = plots.plot_class_counts({"cat": 10, "dog": 2}, title="counts")
    assert len(fig.axes[0].patches) == 2
    fig = plots.plot_class_counts({"train": {"cat": 10, "dog": 2}, "test": {"cat": 3, "dog": 1}})
    assert len(fig.axes[0].patches) == 4 and fig.axes[0].get_legend() is not None
    plt.close("all")
    with pytest.raises(ValueError, match="empty"):
        plots.plot_class_counts({})


def test_image_files_dataset_and_a_dataloader_with_workers(tiny_model_and_data):
    _, dataset, transform, root = tiny_model_and_data
    files = folders.ImageFiles(sorted(root.rglob("*.png")), [0] * 8, transform)
    x, y = files[0]
    assert x.shape == (3, 8, 8) and y == 0
    batches = list(DataLoader(dataset, batch_size=4, num_workers=2))
    assert len(batches) == 2 and batches[0][0].shape == (4, 3, 8, 8)
    with pytest.raises(ValueError, match="labels"):
        folders.ImageFiles([root], [0, 1])
