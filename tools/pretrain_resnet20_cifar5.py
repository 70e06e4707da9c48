"""Pretrain the ResNet-20 that the own-data chapter fine-tunes; ship it as cnnlib package data.

The own-data chapter's folder (chapters/10_own_data.ipynb) holds five CIFAR-10 classes
(airplane, automobile, bird, cat, ship). A network pretrained on those classes would not show
transfer, only memory, so this script trains the book's CIFAR ResNet-20 on the *other* five
classes (deer, dog, frog, horse, truck) of CIFAR-10's training set, with the ResNet chapter's
one-cycle recipe, and tests it on those five classes of the test set. Seeded: the same
command gives the same weights on the same machine.

    OMP_NUM_THREADS=1 CNNLIB_DATA=$PWD/.data python tools/pretrain_resnet20_cifar5.py \
        --epochs 1 --dry-run
    OMP_NUM_THREADS=1 CNNLIB_DATA=$PWD/.data python tools/pretrain_resnet20_cifar5.py

writes ``cnnlib/pretrained/resnet20_cifar5.pt`` (the weights as float16, a plain state_dict)
and ``resnet20_cifar5.json`` (the provenance, the sha256 of the weights file included), and
refuses to replace them without ``--overwrite``.
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cnnlib  # noqa: E402
from cnnlib.data import DATASETS, load_tensors  # noqa: E402
from cnnlib.folders import sample_per_class  # noqa: E402
from cnnlib.models import get_model  # noqa: E402
from cnnlib.results import cpu_model  # noqa: E402

NAME = "resnet20_cifar5"
CLASSES = ["deer", "dog", "frog", "horse", "truck"]  # the own-data folder has none of them
OUT = ROOT / "cnnlib" / "pretrained"


def subset(train: bool, per_class: int | None, seed: int):
    """The five classes' images of one split (all of them when ``per_class`` is None),
    labelled 0..4 in the order of ``CLASSES``."""
    images, labels = load_tensors("cifar10", train=train)
    keep = [DATASETS["cifar10"].classes.index(name) for name in CLASSES]
    if per_class is None:
        index = torch.isin(labels, torch.tensor(keep)).nonzero().flatten()
    else:
        index = sample_per_class(labels, keep, per_class, seed=seed)
    mapping = {label: k for k, label in enumerate(keep)}
    return images[index], torch.tensor([mapping[int(v)] for v in labels[index]])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--per-class", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-lr", type=float, default=0.2)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--hardware-note", default="",
                        help="what the CPU model does not say, added to the record's "
                             "hardware line (e.g. '2-core VM shared with other jobs')")
    parser.add_argument("--dry-run", action="store_true",
                        help="train and report, write nothing (to time an epoch)")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    weights = args.out / f"{NAME}.pt"
    record = args.out / f"{NAME}.json"
    if not args.dry_run and not args.overwrite and (weights.exists() or record.exists()):
        parser.error(f"{weights} or {record} exists; pass --overwrite to replace them")

    start = time.perf_counter()
    x_train, y_train = subset(True, args.per_class, args.seed)
    x_test, y_test = subset(False, None, args.seed)
    mean, std = cnnlib.channel_stats(x_train)
    cnnlib.seed_everything(args.seed)
    train = cnnlib.TensorLoader(x_train, y_train, batch_size=128, augment=True,
                                mean=mean, std=std, seed=args.seed)
    test = cnnlib.TensorLoader(x_test, y_test, batch_size=1000, shuffle=False,
                               mean=mean, std=std)
    model = get_model("resnet20", num_classes=len(CLASSES))
    optimizer, scheduler = cnnlib.one_cycle(model, train, args.epochs, max_lr=args.max_lr,
                                            nesterov=True, pct_start=0.25)
    history = cnnlib.fit(model, train, test, epochs=args.epochs, optimizer=optimizer,
                         scheduler=scheduler, scheduler_per_batch=True, progress=False)
    seconds = time.perf_counter() - start
    print(history)

    # what is shipped is float16: measure the shipped weights, not the float32 ones
    state = {k: (v.half() if v.is_floating_point() else v)
             for k, v in model.state_dict().items()}
    shipped = get_model("resnet20", num_classes=len(CLASSES))
    shipped.load_state_dict(state)
    final = {"train_acc": cnnlib.evaluate(shipped, cnnlib.TensorLoader(
                 x_train, y_train, batch_size=1000, shuffle=False, mean=mean, std=std))["acc"],
             "test_acc": cnnlib.evaluate(shipped, test)["acc"]}
    print(f"float16 weights: train {final['train_acc']:.2%}, test {final['test_acc']:.2%}; "
          f"{seconds:.0f} s")
    if args.dry_run:
        return 0

    args.out.mkdir(parents=True, exist_ok=True)
    torch.save(state, weights)
    provenance = {
        "name": NAME,
        "model": "resnet20",
        "num_classes": len(CLASSES),
        "classes": CLASSES,
        "why": "the own-data chapter (chapters/10_own_data.ipynb) fine-tunes it on a folder "
               "of the other five CIFAR-10 classes "
               "(airplane, automobile, bird, cat, ship), which it has never seen",
        "data": {"dataset": "CIFAR-10 training set (Krizhevsky 2009)",
                 "images_per_class": args.per_class,
                 "images": len(x_train), "sampled_with": "cnnlib.folders.sample_per_class",
                 "test": f"all {len(x_test):,} CIFAR-10 test images of the five classes"},
        "input": {"size": 32, "mean": list(mean), "std": list(std)},
        "recipe": {"epochs": args.epochs, "batch_size": 128, "optimizer": "SGD, nesterov",
                   "max_lr": args.max_lr, "weight_decay": 5e-4, "pct_start": 0.25,
                   "schedule": "one-cycle (cnnlib.one_cycle), per batch",
                   "augmentation": "random crop (pad 4) and horizontal flip (TensorLoader)",
                   "seed": args.seed},
        "result": {"train_acc": round(final["train_acc"], 4),
                   "test_acc": round(final["test_acc"], 4),
                   "measured_on": "the float16 weights as shipped, train without augmentation"},
        "seconds": round(seconds, 1),
        "hardware": ", ".join(part for part in (
            cpu_model(), args.hardware_note.strip(), "CPU",
            f"{torch.get_num_threads()} thread(s)") if part),
        "date": datetime.date.today().isoformat(),
        "torch": torch.__version__, "python": platform.python_version(),
        "dtype": "float16",
        "made_by": f"python tools/pretrain_resnet20_cifar5.py --epochs {args.epochs} "
                   f"--per-class {args.per_class} --seed {args.seed} --max-lr {args.max_lr}"
                   + (f" --hardware-note {args.hardware_note.strip()!r}"
                      if args.hardware_note.strip() else ""),
        "sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
    }
    record.write_text(json.dumps(provenance, indent=1) + "\n")
    print(f"wrote {weights} ({weights.stat().st_size:,} bytes) and {record}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
