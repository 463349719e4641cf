"""Training and evaluation of the embedded traffic-sign classifiers (plain and adversarial).

``train(TrainConfig(...))`` renders (or loads) the data into memory, trains with SGD + cosine schedule,
validates every epoch, writes periodic checkpoints and a JSON log, and saves safetensors weights. A
``KeyboardInterrupt`` (Ctrl-C, or raised by a callback) saves a checkpoint at the current step first;
``TrainConfig(resume=True)`` continues from it with identical batches (every random draw is seeded by
``(seed, epoch)`` or ``(seed, step)``, never by global state).

Adversarial training follows Xie et al. (seed 004): each batch is adversarial with probability 0.8
(PGD, L∞, random start; Madry et al.; :mod:`edgeguard.attacks.pgd`), else clean; ``adv`` may name any
registered white-box attack instead (seed 002 trains with FGSM: ``fgsm:eps=8/255``). The attack works in
[0, 1] pixel space on the model wrapped with its normalisation. Sticker-robust training runs ROA
(``adv="roa:…"``, Wu et al. ICLR'20, :mod:`edgeguard.attacks.roa`) the same way. ``mask_aug`` (the
base model of certified masking, :mod:`edgeguard.train_masking`) replaces a share of every batch —
after the attack — by two-masked copies from the certificate's mask set. ``python -m edgeguard.train --eval``
(see :mod:`edgeguard.train_eval`) reproduces the published numbers.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .attacks import PGD, Normalized, parse_adv, pgd_attack
from .errors import ConfigError, ModelError
from .train_masking import MaskAug, mask_batch, parse_mask_aug

Callback = Callable[[dict[str, Any]], None]

__all__ = ["PGD", "Normalized", "TrainConfig", "parse_adv", "pgd_attack", "train"]  # PGD & co.: old home


@dataclass
class TrainConfig:
    """Everything that determines a training run (stored in the JSON log)."""

    out: str
    arch: str = "signs-resnet"
    data: str = "synthetic"
    variety: str = "classic"  # synthetic data: classic | wide (edgeguard.data.looks)
    epochs: int = 8
    n_train: int = 40000
    n_val: int = 1000
    batch_size: int = 128
    lr: float = 0.1
    weight_decay: float = 5e-4
    adv: str | None = None
    adv_fraction: float = 0.8
    mask_aug: str | None = None
    init: str | None = None
    seed: int = 0
    threads: int = 1
    workers: int = 2
    ckpt_every: int = 200
    resume: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def _paths(out: str) -> tuple[Path, Path, Path]:
    p = Path(out)
    stem = p.name.removesuffix(".safetensors")
    return p, p.with_name(stem + ".ckpt.pt"), p.with_name(stem + ".json")


def load_data(
    cfg: TrainConfig, size: int = 64
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Train/val arrays (uint8 NHWC, int64 labels) and label names for ``cfg.data``."""
    from .data import dataset, local
    from .data.looks import TRAIN_VARIETIES, check_variety

    kind, _, path = cfg.data.partition(":")
    check_variety(cfg.variety, TRAIN_VARIETIES, "--variety")
    if kind != "synthetic" and cfg.variety != "classic":
        raise ConfigError(f"--variety {cfg.variety}: only the synthetic data has varieties, not {cfg.data!r}")
    if kind == "synthetic":  # training seeds never VAL/TEST; validation in the training variety
        tr = dataset.SignDataset(cfg.n_train, dataset.TRAIN_SEED + 10 * cfg.seed, size, variety=cfg.variety)
        va = dataset.SignDataset(cfg.n_val, dataset.VAL_SEED, size, variety=cfg.variety)
        xt, yt = dataset.render_arrays(tr, cfg.workers)
        xv, yv = dataset.render_arrays(va, cfg.workers)
        return xt, yt, xv, yv, list(tr.labels)
    if kind in ("gtsrb", "folder") and path:
        ds = local.GTSRB(path, "train", size) if kind == "gtsrb" else local.ImageFolder(path, size)
        x, y = ds.arrays()
        perm = np.random.default_rng(cfg.seed).permutation(len(y))
        n_val = min(cfg.n_val, len(y) // 10)
        return x[perm[n_val:]], y[perm[n_val:]], x[perm[:n_val]], y[perm[:n_val]], list(ds.labels)
    raise ConfigError(f"--data {cfg.data!r}: expected synthetic, gtsrb:PATH or folder:PATH")


def _batches(n: int, bs: int, seed: int, epoch: int) -> list[torch.Tensor]:
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 10007 + epoch))
    return [perm[i : i + bs] for i in range(0, n - bs + 1 if n >= bs else n, bs)] if n else []


def _augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Random translation by up to 4 px (edge padding): cheap extra variety over the cached renders."""
    dx, dy = (int(v) for v in torch.randint(-4, 5, (2,), generator=g))
    xp = F.pad(x, (4, 4, 4, 4), mode="replicate")
    h, w = x.shape[-2:]
    return xp[..., 4 + dy : 4 + dy + h, 4 + dx : 4 + dx + w]


@torch.no_grad()
def _masked_accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray, aug: MaskAug, bs: int = 256) -> float:
    """Accuracy on two-masked copies of the validation set (every example masked; fixed draws)."""
    model.eval()
    keep, every = aug.keep(), MaskAug(aug.masks, 1.0)
    correct = 0
    for i in range(0, len(y), bs):
        xb = torch.from_numpy(x[i : i + bs]).permute(0, 3, 1, 2).float().div_(255)
        xb, _ = mask_batch(xb, every, keep, seed=-1, step=i)
        correct += int((model(xb).argmax(1) == torch.from_numpy(y[i : i + bs])).sum())
    return correct / max(len(y), 1)


@torch.no_grad()
def _accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray, bs: int = 256) -> float:
    model.eval()
    correct = 0
    for i in range(0, len(y), bs):
        xb = torch.from_numpy(x[i : i + bs]).permute(0, 3, 1, 2).float().div_(255)
        correct += int((model(xb).argmax(1) == torch.from_numpy(y[i : i + bs])).sum())
    return correct / max(len(y), 1)


def build_arch(arch: str, num_classes: int) -> tuple[nn.Module, tuple, tuple]:
    from .models import signs

    if arch not in signs.ARCHS:
        import difflib

        close = difflib.get_close_matches(arch, list(signs.ARCHS), n=2, cutoff=0.4)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ConfigError(f"unknown --arch {arch!r}{hint} (known: {', '.join(signs.ARCHS)})")
    return signs.ARCHS[arch](num_classes), signs.SIGNS_MEAN, signs.SIGNS_STD


def train(cfg: TrainConfig, callbacks: list[Callback] | tuple[Callback, ...] = ()) -> dict[str, Any]:
    """Run training; returns the log dict (also written next to the weights as JSON).

    Raises:
        ConfigError: bad arch/data/adv spec, or ``resume`` without a checkpoint.
        KeyboardInterrupt: re-raised after the checkpoint is saved.
    """
    from safetensors.torch import save_file

    from .models.weights import load_into

    pgd = parse_adv(cfg.adv)
    aug = parse_mask_aug(cfg.mask_aug)
    if not 0.0 <= cfg.adv_fraction <= 1.0:
        raise ConfigError(f"--adv-fraction {cfg.adv_fraction!r}: expected a share of batches in [0, 1]")
    build_arch(cfg.arch, 2)  # fail on a bad --arch before spending minutes on data
    torch.set_num_threads(max(1, cfg.threads))
    out, ckpt_path, log_path = _paths(cfg.out)
    if cfg.resume and not ckpt_path.is_file():
        raise ConfigError(f"--resume: no checkpoint {str(ckpt_path)!r} (it is written while training)")
    t0 = time.time()
    xt, yt, xv, yv, labels = load_data(cfg)
    torch.manual_seed(cfg.seed)
    net, mean, std = build_arch(cfg.arch, len(labels))
    if cfg.init:  # warm start, e.g. the denoise net from the plain weights (blocks start as identity)
        try:
            load_into(net, cfg.init, arch=cfg.arch)
        except ModelError:
            missing = net.load_state_dict(_read(cfg.init), strict=False)
            if missing.unexpected_keys:
                raise
    model = Normalized(net, mean, std)
    steps_per_epoch = len(_batches(len(yt), cfg.batch_size, 0, 0))
    total = max(1, steps_per_epoch * cfg.epochs)
    decay, no_decay = [], []
    for p in net.parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)
    opt = torch.optim.SGD(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.lr,
        momentum=0.9,
        nesterov=True,
    )
    warm = max(1, total // 50)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(s, total) / total))
    )
    log: dict[str, Any] = {
        "config": asdict(cfg),
        "adv": pgd.spec() if pgd else None,
        "mask_aug": aug.spec() if aug else None,
        "labels": labels,
        "n_train": int(len(yt)),
        "n_val": int(len(yv)),
        "epochs": [],
        "interrupted": [],
    }
    step = 0
    if cfg.resume:
        ck = torch.load(str(ckpt_path), map_location="cpu", weights_only=True)
        net.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        sched.load_state_dict(ck["sched"])
        step = int(ck["step"])
        log = json.loads(ck["log"])
        log.setdefault("resumed_at", []).append(step)

    def save_ckpt() -> None:
        ckpt_path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(
            {
                "model": net.state_dict(),
                "opt": opt.state_dict(),
                "sched": sched.state_dict(),
                "step": step,
                "log": json.dumps(log),
            },
            str(ckpt_path) + ".tmp",
        )
        Path(str(ckpt_path) + ".tmp").replace(ckpt_path)

    def emit(event: dict[str, Any]) -> None:
        for cb in callbacks:
            cb(event)

    emit(
        {
            "kind": "start",
            "total": total,
            "step": step,
            "steps_per_epoch": steps_per_epoch,
            "setup_s": time.time() - t0,
        }
    )
    xt_t = torch.from_numpy(xt)
    keep = aug.keep() if aug else None
    try:
        while step < total:
            epoch, first = divmod(step, steps_per_epoch)
            run_loss = run_correct = run_n = 0.0
            te = time.time()
            for idx in _batches(len(yt), cfg.batch_size, cfg.seed, epoch)[first:]:
                g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
                xb = _augment(xt_t[idx].permute(0, 3, 1, 2).float().div_(255), g)
                yb = torch.from_numpy(yt[idx.numpy()])
                adv = pgd is not None and float(torch.rand(1, generator=g)) < cfg.adv_fraction
                if adv:
                    net.eval()  # attack against fixed BN statistics; the update below uses train mode
                    xb = pgd(model, xb, yb, g)  # any white-box attack; PGD: exactly pgd_attack
                masked = 0
                if aug is not None and keep is not None:  # own generator: the draws above do not move
                    xb, picked = mask_batch(xb, aug, keep, cfg.seed, step)
                    masked = int(picked.sum())
                net.train()
                logits = model(xb)
                loss = F.cross_entropy(logits, yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                step += 1
                run_loss += loss.item() * len(yb)
                run_correct += float((logits.argmax(1) == yb).sum())
                run_n += len(yb)
                emit(
                    {
                        "kind": "step",
                        "step": step,
                        "total": total,
                        "loss": loss.item(),
                        "adv": adv,
                        "masked": masked,
                    }
                )
                if step % cfg.ckpt_every == 0:
                    save_ckpt()
            val = _accuracy(model, xv, yv)
            rec = {
                "epoch": epoch + 1,
                "step": step,
                "train_loss": run_loss / max(run_n, 1),
                "train_acc": run_correct / max(run_n, 1),
                "val_acc": val,
                "epoch_s": time.time() - te,
                "lr": sched.get_last_lr()[0],
            }
            if aug is not None:
                rec["val_masked_acc"] = _masked_accuracy(model, xv, yv, aug)
            log["epochs"].append(rec)
            save_ckpt()
            emit({"kind": "epoch", **rec})
    except KeyboardInterrupt:
        log["interrupted"].append(step)
        save_ckpt()
        emit({"kind": "interrupted", "step": step, "checkpoint": str(ckpt_path)})
        raise
    log["wall_s"] = log.get("wall_s", 0.0) + time.time() - t0
    log["final_val_acc"] = log["epochs"][-1]["val_acc"] if log["epochs"] else None
    out.parent.mkdir(parents=True, exist_ok=True)
    net.eval()
    save_file(
        {k: v.contiguous() for k, v in net.state_dict().items()},
        str(out),
        metadata={"arch": cfg.arch, "labels": json.dumps(labels)},
    )
    log_path.write_text(json.dumps(log, indent=1) + "\n")
    emit({"kind": "done", "out": str(out), "log": str(log_path)})
    return log


def _read(path: str) -> dict[str, torch.Tensor]:
    from .models.weights import read_state_dict

    return read_state_dict(path)


if __name__ == "__main__":  # python -m edgeguard.train --eval  (same as `edgeguard train eval`)
    import argparse

    from .train_eval import evaluate_models as _evaluate_models

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--eval", action="store_true", required=True)
    ap.add_argument("--out", default=str(Path(__file__).parent / "models" / "weights" / "signs-eval.json"))
    ap.add_argument("--confusion", default="docs/signs_confusion.png")
    a = ap.parse_args()
    for nm, rr in _evaluate_models(
        ["signs-resnet", "signs-resnet-denoise"], out=a.out, confusion_png=a.confusion
    )["models"].items():
        print(nm, {k: v for k, v in rr.items() if k not in ("confusion", "per_class_top1")})
