"""Test-time augmentation (cnnlib.test_time): the views, and the errors they give."""

from __future__ import annotations

import pytest
import torch

from cnnlib.loader import TensorLoader
from cnnlib.test_time import view_errors, views


def loader(n=40, padding=4):
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 3, 8, 8), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, 3, (n,), generator=g)
    return TensorLoader(images, labels, batch_size=16, shuffle=False, padding=padding,
                        mean=[0.4, 0.5, 0.6], std=[0.2, 0.25, 0.3])


def model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(),
                               torch.nn.Linear(4 * 6 * 6, 3))


def test_ten_crops_pad_with_black_as_the_training_crops_do():
    data = loader()
    x, _ = next(iter(data))
    crops = views(x, "ten_crop", 4, data.shift)
    assert len(crops) == 10 and all(c.shape == x.shape for c in crops)
    black = data.shift.view(1, 3, 1, 1).expand(len(x), 3, 4, 8)
    torch.testing.assert_close(crops[0][:, :, :4], black)  # top-left corner: 4 rows of padding
    torch.testing.assert_close(crops[4], x)  # the centre crop of the padded image
    torch.testing.assert_close(crops[9], x.flip(-1))  # and its mirror image


def test_centre_is_the_plain_error_and_unpadded_ten_crop_is_the_mirror_pair():
    data, net = loader(), model()
    with torch.no_grad():
        wrong = sum((net(x).argmax(1) != y).sum().item() for x, y in data)
    errors = view_errors(net, data, padding=0)
    assert errors["centre"] == pytest.approx(100 * wrong / 40)
    assert errors["ten_crop"] == pytest.approx(errors["flip"])  # five centres, five mirrors
    assert set(view_errors(net, data, ("flip",))) == {"flip"}


def test_bad_views_and_loaders_are_refused():
    with pytest.raises(ValueError, match="views must be some of"):
        view_errors(model(), loader(), ("five_crop",))
    with pytest.raises(TypeError, match="TensorLoader"):
        view_errors(model(), [(torch.zeros(1, 3, 8, 8), torch.zeros(1))])
