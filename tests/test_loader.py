"""cnnlib.loader: the batched crop/flip against per-image references, and the loader's promises
(every image once per epoch, labels stay with their images, seeds repeat, exact normalisation)."""

from __future__ import annotations

import pytest
import torch
import torchvision.transforms.v2.functional as TF

from cnnlib.loader import TensorLoader, random_crop_flip


def random_batch(b=16, c=3, h=6, w=9, padding=2, seed=0):
    """Non-square images so that a row/column mix-up cannot pass unnoticed."""
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(1, 256, (b, c, h, w), dtype=torch.uint8, generator=g)
    offsets = torch.randint(0, 2 * padding + 1, (b, 2), generator=g)
    flips = torch.rand(b, generator=g) < 0.5
    return images, offsets, flips


def reference_crop_flip(image, row, col, flip, padding):
    """One image by hand: a zero-padded copy, a slice, then maybe a mirror."""
    c, h, w = image.shape
    padded = torch.zeros(c, h + 2 * padding, w + 2 * padding, dtype=image.dtype)
    padded[:, padding:padding + h, padding:padding + w] = image
    crop = padded[:, row:row + h, col:col + w]
    return crop.flip(-1) if flip else crop


@pytest.mark.parametrize("padding", [0, 1, 2, 4])
def test_random_crop_flip_matches_slicing_by_hand(padding):
    images, offsets, flips = random_batch(padding=padding, seed=padding)
    out = random_crop_flip(images, offsets, flips, padding)
    assert out.shape == images.shape and out.dtype == images.dtype
    for i in range(len(images)):
        row, col = offsets[i].tolist()
        expected = reference_crop_flip(images[i], row, col, flips[i].item(), padding)
        assert torch.equal(out[i], expected), i


def test_random_crop_flip_covers_every_offset_and_both_flips():
    images, _, _ = random_batch(b=1, padding=2)
    padding = 2
    for row in range(2 * padding + 1):
        for col in range(2 * padding + 1):
            for flip in (False, True):
                out = random_crop_flip(images, torch.tensor([[row, col]]), torch.tensor([flip]),
                                       padding)
                assert torch.equal(out[0], reference_crop_flip(images[0], row, col, flip, padding))


def test_random_crop_flip_matches_torchvision_pad_crop_flip():
    padding = 4
    images, offsets, flips = random_batch(b=12, h=32, w=32, padding=padding, seed=7)
    out = random_crop_flip(images, offsets, flips, padding)
    for i in range(len(images)):
        row, col = offsets[i].tolist()
        expected = TF.crop(TF.pad(images[i], [padding]), row, col, 32, 32)
        if flips[i]:
            expected = TF.horizontal_flip(expected)
        assert torch.equal(out[i], expected), i


def test_unshifted_unflipped_crop_is_the_identity():
    images, _, _ = random_batch(padding=3)
    centred = torch.full((len(images), 2), 3)
    out = random_crop_flip(images, centred, torch.zeros(len(images), dtype=torch.bool), 3)
    assert torch.equal(out, images)


def indexed_images(n=200, size=12):
    """Image i has every pixel equal to i and label i: a batch tells which images it holds."""
    images = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 2, size, size).contiguous()
    return images, torch.arange(n)


def image_ids(x):
    """The index each image encodes: its centre pixel survives any crop with padding <= 4."""
    h = x.shape[-1] // 2
    return (x[:, 0, h, h] * 255).round().long()


@pytest.mark.parametrize("augment", [False, True])
def test_labels_stay_with_their_images(augment):
    images, labels = indexed_images()
    loader = TensorLoader(images, labels, batch_size=32, shuffle=True, augment=augment, seed=1)
    for _ in range(2):
        for x, y in loader:
            assert torch.equal(image_ids(x), y)
            # augmented pixels are the image's own value or the zero padding, nothing else
            values = (x * 255).round().long()
            assert ((values == y.view(-1, 1, 1, 1)) | (values == 0)).all()


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("augment", [False, True])
def test_every_image_exactly_once_per_epoch(shuffle, augment):
    images, labels = indexed_images(n=200)
    loader = TensorLoader(images, labels, batch_size=32, shuffle=shuffle, augment=augment)
    assert len(loader) == 7 and loader.dataset_size == 200
    for _ in range(2):
        batches = list(loader)
        assert len(batches) == len(loader)
        assert [len(y) for _, y in batches] == [32] * 6 + [8]
        seen = torch.cat([y for _, y in batches])
        assert torch.equal(seen.sort().values, labels)
        if not shuffle:
            assert torch.equal(seen, labels)


def test_drop_last_drops_only_the_short_batch():
    images, labels = indexed_images(n=200)
    loader = TensorLoader(images, labels, batch_size=32, drop_last=True)
    assert len(loader) == 6
    seen = torch.cat([y for _, y in loader])
    assert len(seen) == 192 and len(torch.unique(seen)) == 192
    exact = TensorLoader(images[:64], labels[:64], batch_size=32, drop_last=True)
    assert len(exact) == 2 and len(list(exact)) == 2


def batches_of(loader):
    return [(x.clone(), y.clone()) for x, y in loader]


def same_batches(a, b):
    return len(a) == len(b) and all(torch.equal(xa, xb) and torch.equal(ya, yb)
                                    for (xa, ya), (xb, yb) in zip(a, b))


def test_same_seed_same_batches_other_seed_other_order():
    images, labels = indexed_images()
    a, b, c = (TensorLoader(images, labels, batch_size=50, augment=True, seed=seed)
               for seed in (5, 5, 6))
    first_a, first_b, first_c = batches_of(a), batches_of(b), batches_of(c)
    assert same_batches(first_a, first_b)
    assert not torch.equal(first_a[0][1], first_c[0][1])
    second_a = batches_of(a)
    assert same_batches(second_a, batches_of(b))
    assert not torch.equal(first_a[0][1], second_a[0][1])  # a new order every epoch


def test_normalisation_is_x_over_255_minus_mean_over_std():
    images, _, _ = random_batch(b=10, c=3, h=5, w=7)
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    loader = TensorLoader(images, torch.zeros(10, dtype=torch.int64), batch_size=4, shuffle=False,
                          mean=mean, std=std)
    x = torch.cat([x for x, _ in loader])
    m, s = torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)
    expected = (images.float() / 255 - m) / s
    assert x.dtype == torch.float32
    torch.testing.assert_close(x, expected, rtol=0, atol=1e-5)
    plain = torch.cat([x for x, _ in TensorLoader(images, torch.zeros(10), shuffle=False)])
    torch.testing.assert_close(plain, images.float() / 255, rtol=0, atol=1e-6)


def test_channels_last_layout():
    images, _, _ = random_batch(b=4)
    x, _ = next(iter(TensorLoader(images, torch.zeros(4), channels_last=True)))
    assert x.is_contiguous(memory_format=torch.channels_last)


def test_state_dict_reproduces_the_next_epoch():
    images, labels = indexed_images()
    loader = TensorLoader(images, labels, batch_size=64, augment=True, seed=2)
    batches_of(loader)
    state = loader.state_dict()
    second = batches_of(loader)
    third = batches_of(loader)
    loader.load_state_dict(state)
    assert same_batches(batches_of(loader), second)
    resumed = TensorLoader(images, labels, batch_size=64, augment=True, seed=99)
    resumed.load_state_dict(state)
    assert same_batches(batches_of(resumed), second)
    assert same_batches(batches_of(resumed), third)


def test_bad_inputs_raise_clear_errors():
    images, labels = indexed_images(n=10)
    with pytest.raises(TypeError, match="uint8 N x C x H x W.*float32"):
        TensorLoader(images.float(), labels)
    with pytest.raises(TypeError, match="uint8 N x C x H x W"):
        TensorLoader(images[:, 0], labels)
    with pytest.raises(ValueError, match="10 images but 9 labels"):
        TensorLoader(images, labels[:9])
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        TensorLoader(images, labels, batch_size=0)
    with pytest.raises(ValueError, match=r"one value per channel \(2\)"):
        TensorLoader(images, labels, mean=(0.5, 0.5, 0.5), std=(0.2, 0.2, 0.2))
