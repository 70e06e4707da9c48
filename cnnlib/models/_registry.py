"""The model registry, as in torchvision: build any model of the book by name."""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable

from torch import nn

from .._args import whole_number

_BUILDERS: dict[str, Callable[..., nn.Module]] = {}


def register(name: str):
    """Decorator: make a model builder available as ``get_model(name)``."""
    def add(builder):
        if name in _BUILDERS:
            raise ValueError(f"model name {name!r} is already registered")
        _BUILDERS[name] = builder
        return builder
    return add


def list_models() -> list[str]:
    """Registered model names, sorted."""
    return sorted(_BUILDERS)


def get_model(name: str, **kwargs) -> nn.Module:
    """Build the model registered as ``name``; ``kwargs`` go to its builder (``num_classes``...)."""
    if name not in _BUILDERS:
        close = difflib.get_close_matches(str(name), _BUILDERS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown model {name!r}{hint}; available: {', '.join(list_models())}")
    builder = _BUILDERS[name]
    takes = inspect.signature(builder).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in takes.values()):
        for key in kwargs:
            if key not in takes:
                close = difflib.get_close_matches(key, takes, n=1)
                hint = f" (did you mean {close[0]}=?)" if close else ""
                raise TypeError(f"get_model({name!r}) takes no argument {key}={kwargs[key]!r}"
                                f"{hint}; it takes: {', '.join(takes) or 'none'}")
    if "num_classes" in kwargs:
        whole_number("num_classes", kwargs["num_classes"], 1,
                     meaning="it is the number of outputs, one per class")
    return builder(**kwargs)


def build_model(name: str, channels: int = 3, num_classes: int = 10) -> nn.Module:
    """The model registered as ``name``, built for a dataset's channels and classes: passes
    ``in_channels`` where the builder takes it (as LeNet-5's does; the others are RGB models)."""
    builder = _BUILDERS.get(name)
    takes_channels = builder is not None and "in_channels" in inspect.signature(builder).parameters
    extra = {"in_channels": channels} if takes_channels else {}
    return get_model(name, num_classes=num_classes, **extra)  # an unknown name: get_model says so
