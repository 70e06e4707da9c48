"""Every speed switch of the book in one place, each visible, explained, and possible to turn off.

``cnnlib.fit`` and ``cnnlib.evaluate`` take ``fast=FastSettings(...)``. A switch left at ``None``
means "on for CUDA, off elsewhere": on a GPU the same notebook code trains at GPU speed, and on a
CPU the loop stays the plain fp32 reference that the chapters reason about. Turn one switch off
to see what it buys, e.g. ``fit(..., fast=FastSettings(channels_last=False))``.

======================  =====================================================================
switch                  what it does, and why it is faster
======================  =====================================================================
``amp``                 mixed precision: convolutions and matrix products in 16-bit floats
                        on the tensor cores (bf16 where the GPU supports it, else fp16 with a
                        ``GradScaler`` so that small gradients do not underflow).
``channels_last``       store activations N x H x W x C: the layout tensor-core convolution
                        kernels read natively, so no transposes around every convolution.
``cudnn_benchmark``     let cuDNN time its convolution algorithms once per input shape and
                        keep the fastest (the book's shapes are fixed, so this pays off).
``fused_optimizer``     one GPU kernel updates all parameters instead of several per tensor.
``non_blocking``        host-to-GPU copies that overlap with compute (from pinned memory).
``eval_batch_size``     evaluate in large batches (no gradients are kept, so memory allows).
``compile``             ``torch.compile``: fuse the elementwise layers into generated kernels
                        (off by default: the first epoch pays for compilation).
======================  =====================================================================

Evaluation always runs under ``torch.inference_mode()``, which is ``no_grad`` plus no version
counters: never slower, and nothing to switch. The other half of the speed comes from the data
staying on the device: :class:`cnnlib.loader.TensorLoader` (its ``channels_last`` flag applies
the layout switch to the batches it produces).
"""

from __future__ import annotations

import contextlib
import copy
from dataclasses import asdict, dataclass, fields, replace

import torch

from .loader import TensorLoader

_DTYPES = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16,
           "fp16": torch.float16, "float16": torch.float16, "half": torch.float16}


def _dtype(value) -> torch.dtype | None:
    if value is None or value in (torch.bfloat16, torch.float16):
        return value
    if isinstance(value, str) and value.lower() in _DTYPES:
        return _DTYPES[value.lower()]
    raise ValueError(f"amp_dtype must be torch.bfloat16, torch.float16, 'bf16', 'fp16' or None, "
                     f"got {value!r}")


@dataclass(frozen=True)
class FastSettings:
    """The speed switches; ``None`` means "on for CUDA, off elsewhere" (see the module's table)."""

    amp: bool | None = None
    amp_dtype: torch.dtype | str | None = None  # None: bf16 where supported, else fp16
    channels_last: bool | None = None
    cudnn_benchmark: bool | None = None
    fused_optimizer: bool | None = None
    compile: bool = False
    eval_batch_size: int | None = 1000  # None: evaluate in the loader's own batches
    non_blocking: bool = True

    def __post_init__(self):
        _dtype(self.amp_dtype)  # fail at construction, not in the middle of an epoch
        size = self.eval_batch_size
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
            raise ValueError(f"eval_batch_size must be a positive int or None, got {size!r}")

    @classmethod
    def off(cls) -> FastSettings:
        """Every switch off: the plain fp32 reference path, on any device."""
        return cls(amp=False, channels_last=False, cudnn_benchmark=False, fused_optimizer=False,
                   compile=False, eval_batch_size=None, non_blocking=False)

    def resolve(self, device: str | torch.device) -> FastSettings:
        """Every ``None`` decided for ``device``; resolving twice changes nothing."""
        cuda = torch.device(device).type == "cuda"
        amp = cuda if self.amp is None else self.amp
        dtype = _dtype(self.amp_dtype)
        if amp and dtype is None:
            # bf16 has fp32's exponent range, so no loss scaling; GPUs before Ampere (T4, V100)
            # have fp16 tensor cores only (their bf16 is emulated, hence slow).
            native_bf16 = not cuda or torch.cuda.is_bf16_supported(including_emulation=False)
            dtype = torch.bfloat16 if native_bf16 else torch.float16
        # cuDNN's autotuner may pick non-deterministic algorithms: a deterministic run keeps it off
        deterministic = torch.are_deterministic_algorithms_enabled()
        return replace(
            self, amp=amp, amp_dtype=dtype if amp else None,
            channels_last=cuda if self.channels_last is None else self.channels_last,
            cudnn_benchmark=(cuda and not deterministic) if self.cudnn_benchmark is None
            else self.cudnn_benchmark,
            fused_optimizer=cuda if self.fused_optimizer is None else self.fused_optimizer)

    @property
    def grad_scaling(self) -> bool:
        """fp16 needs its loss scaled up before backward (gradients would underflow); bf16 not."""
        return bool(self.amp) and _dtype(self.amp_dtype) == torch.float16

    def as_dict(self) -> dict:
        """Plain values (dtypes as strings), for JSON files and banners."""
        out = asdict(self)
        out["amp_dtype"] = None if self.amp_dtype is None else str(_dtype(self.amp_dtype))[6:]
        return out

    def describe(self) -> str:
        """One line per switch: name and value (``None`` = decided by the device)."""
        width = max(len(f.name) for f in fields(self))
        return "\n".join(f"{name:<{width}}  {value}" for name, value in self.as_dict().items())


def settings_for(device: str | torch.device, fast: FastSettings | None = None) -> FastSettings:
    """``fast`` (default ``FastSettings()``) resolved for ``device``."""
    fast = FastSettings() if fast is None else fast
    if not isinstance(fast, FastSettings):
        raise TypeError(f"fast must be a cnnlib.fast.FastSettings or None, "
                        f"got {type(fast).__name__}")
    return fast.resolve(device)


def autocast(device: torch.device, fast: FastSettings):
    """The forward pass's precision context: 16-bit autocast when ``fast.amp``, else a no-op."""
    return torch.autocast(torch.device(device).type, dtype=_dtype(fast.amp_dtype),
                          enabled=bool(fast.amp))


def grad_scaler(device: torch.device, fast: FastSettings) -> torch.amp.GradScaler:
    """A GradScaler that is enabled only for fp16; disabled, it passes everything straight through
    (``scale(loss)`` is ``loss``, ``step(opt)`` is ``opt.step()``)."""
    return torch.amp.GradScaler(torch.device(device).type, enabled=fast.grad_scaling)


def _is_channels_last(model: torch.nn.Module) -> bool:
    return all(p.is_contiguous(memory_format=torch.channels_last)
               for p in model.parameters() if p.dim() == 4)


def prepare(model: torch.nn.Module, device: str | torch.device | None = None,
            fast: FastSettings | None = None) -> torch.nn.Module:
    """Move ``model`` to ``device`` (default: where it is), in channels-last layout if asked;
    return it, or its ``torch.compile`` wrapper (same parameters) when ``fast.compile``.

    The conversion is in place, so an optimizer built on ``model.parameters()`` stays valid.
    """
    if device is None:
        first = next(model.parameters(), None)
        device = first.device if first is not None else torch.device("cpu")
    fast = settings_for(device, fast)
    model.to(device)
    if fast.channels_last and not _is_channels_last(model):
        model.to(memory_format=torch.channels_last)
    return torch.compile(model) if fast.compile else model


def to_device(x: torch.Tensor, y: torch.Tensor, device: torch.device, fast: FastSettings):
    """A batch on ``device``, images channels-last if asked; a no-op for a TensorLoader's batches
    (already there, and already in that layout when the loader's ``channels_last`` flag is set)."""
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        kinds = f"({type(x).__name__}, {type(y).__name__})"
        hint = (": a dict's two keys? A loader that yields dicts needs a collate_fn that returns "
                "(images, labels)" if isinstance(x, str) else "")
        raise TypeError(f"a batch must be (images, labels), two tensors; the loader gave "
                        f"{kinds}{hint}")
    if fast.channels_last and x.dim() == 4:
        x = x.to(device, non_blocking=fast.non_blocking, memory_format=torch.channels_last)
    else:
        x = x.to(device, non_blocking=fast.non_blocking)
    return x, y.to(device, non_blocking=fast.non_blocking)


def optimizer_kwargs(fast: FastSettings) -> dict:
    """``fused=True`` when asked; otherwise torch's default (multi-tensor "foreach" on CUDA, a loop
    over parameters on the CPU, which is the reference)."""
    return {"fused": True} if fast.fused_optimizer else {}


def make_optimizer(model: torch.nn.Module, name: str = "sgd", *, lr: float,
                   fast: FastSettings | None = None, **kwargs) -> torch.optim.Optimizer:
    """SGD or AdamW over ``model``'s parameters, fused on CUDA; ``kwargs`` go to the optimizer
    (``momentum=0.9, nesterov=True, weight_decay=5e-4``...)."""
    classes = {"sgd": torch.optim.SGD, "adamw": torch.optim.AdamW}
    if name.lower() not in classes:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {sorted(classes)}")
    params = list(model.parameters())
    if not params:
        raise ValueError("the model has no parameters to optimise")
    fast = settings_for(params[0].device, fast)
    return classes[name.lower()](params, lr=lr, **optimizer_kwargs(fast), **kwargs)


def set_backend_flags(fast: FastSettings) -> dict:
    """Set ``torch.backends.cudnn.benchmark`` as ``fast`` says; return the previous flags."""
    before = {"benchmark": torch.backends.cudnn.benchmark}
    torch.backends.cudnn.benchmark = bool(fast.cudnn_benchmark)
    return before


def restore_backend_flags(before: dict) -> None:
    torch.backends.cudnn.benchmark = before["benchmark"]


@contextlib.contextmanager
def backend_flags(fast: FastSettings):
    """The flags of ``fast`` for the duration of a ``with`` block, then the previous ones."""
    before = set_backend_flags(fast)
    try:
        yield
    finally:
        restore_backend_flags(before)


def eval_batches(loader, fast: FastSettings):
    """The loader to evaluate with: an evaluation TensorLoader (no shuffle, no augmentation, no
    dropped batch) re-batched to ``fast.eval_batch_size`` when that is larger; any other loader
    as it is. The copy shares the loader's tensors on the device: nothing is copied."""
    size = fast.eval_batch_size
    if (isinstance(loader, TensorLoader) and size is not None and size > loader.batch_size
            and not (loader.shuffle or loader.augment or loader.drop_last)):
        loader = copy.copy(loader)
        loader.batch_size = size
    return loader


def synchronize(device: str | torch.device) -> None:
    """Wait for the GPU to finish queued work, so that a clock reading means something."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()
