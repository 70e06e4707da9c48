"""The book's models, built by name like torchvision's: ``cnnlib.models.get_model("lenet5")``.

Each model reads like torchvision's ``models/alexnet.py``: ``features`` (convolutions),
optional pooling, ``classifier`` (fully connected), and ``forward`` = features -> flatten ->
classifier. Each class records the input it expects in ``input_size`` (C, H, W) and checks it in
its ``check_input``, which a forward pre-hook runs before ``forward`` (``CheckedInput``), so a
wrong image size fails with the arithmetic instead of a matrix-shape error, and ``forward``
holds only the network.
"""

from ._checks import CheckedInput, check_input
from ._registry import build_model, get_model, list_models, register
from .alexnet import (PAPER_LAYERS, AlexNetCifar, AlexNetHalf, AlexNetHalf224, AlexNetPaper,
                      AlexNetTorchvision, alexnet_cifar, alexnet_half, alexnet_half224,
                      alexnet_paper, alexnet_torchvision)
from .googlenet import INCEPTION as GOOGLENET_INCEPTION
from .googlenet import GoogLeNet, GoogLeNetCifar, Inception, googlenet, googlenet_cifar
from .lenet import LeNet5, lenet5
from .mlp import MLP, mlp
from .mnist_cnn import MnistCNN, mnist_cnn
from .nin import NiNCifar, mlpconv, nin_cifar
from .resnet import ResNet
from .small_cnn import SmallCNN, small_cnn
from .vgg import CONFIGS as VGG_CONFIGS
from .vgg import VGG, VGGCifar, vgg, vgg11, vgg11_cifar, vgg13, vgg16, vgg16_cifar, vgg19
from . import resnet  # noqa: F401  (the module too: cnnlib.models.resnet.BasicBlock...)

__all__ = [
    "PAPER_LAYERS", "AlexNetCifar", "AlexNetHalf", "AlexNetHalf224", "AlexNetPaper",
    "AlexNetTorchvision", "CheckedInput", "GOOGLENET_INCEPTION", "GoogLeNet", "GoogLeNetCifar",
    "Inception", "LeNet5", "MLP", "MnistCNN", "NiNCifar", "ResNet", "SmallCNN", "VGG",
    "VGGCifar", "VGG_CONFIGS", "alexnet_cifar", "alexnet_half", "alexnet_half224",
    "alexnet_paper", "alexnet_torchvision", "build_model", "check_input", "get_model",
    "googlenet", "googlenet_cifar", "lenet5", "list_models", "mlp", "mlpconv", "mnist_cnn",
    "nin_cifar", "register", "small_cnn", "vgg", "vgg11", "vgg11_cifar", "vgg13", "vgg16",
    "vgg16_cifar", "vgg19",
]
