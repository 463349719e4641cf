"""Evaluation of the embedded sign classifiers: clean top-1, white-box attack accuracy, confusion matrix.

``evaluate_models(["signs-resnet", "signs-resnet-denoise"])`` renders the held-out test set (base seed
``TEST_SEED``, disjoint from the training and validation seeds), measures each registered model with its
shipped weights, and can write ``signs-eval.json`` and the confusion-matrix PNG. Reproduce the published
numbers with ``edgeguard train eval`` or ``python -m edgeguard.train --eval``.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .attacks import Attack, Normalized, parse_adv
from .errors import ConfigError


def confusion_matrix(pred: np.ndarray, y: np.ndarray, n: int) -> np.ndarray:
    """``cm[true, predicted]`` counts."""
    cm = np.zeros((n, n), dtype=np.int64)
    np.add.at(cm, (y, pred), 1)
    return cm


def predict(
    model: nn.Module,
    x: np.ndarray,
    pgd: Attack | None = None,
    y: np.ndarray | None = None,
    bs: int = 200,
    seed: int = 0,
) -> np.ndarray:
    """Top-1 predictions of a [0, 1]-input model on uint8 NHWC images, optionally under an attack
    (``parse_adv``: the house PGD or any registered white-box attack)."""
    model.eval()
    preds = []
    for i in range(0, len(x), bs):
        xb = torch.from_numpy(x[i : i + bs]).permute(0, 3, 1, 2).float().div_(255)
        if pgd is not None and y is not None:
            g = torch.Generator().manual_seed(seed * 7919 + i)
            xb = pgd(model, xb, torch.from_numpy(y[i : i + bs]), g)
        with torch.no_grad():
            preds.append(model(xb).argmax(1).numpy())
    return np.concatenate(preds) if preds else np.zeros(0, np.int64)


def save_confusion_png(cm: np.ndarray, labels: list[str], path: str | Path, title: str) -> Path:
    """Row-normalised confusion matrix as a PNG (matplotlib, Agg backend)."""
    try:
        import matplotlib
    except ImportError:
        raise ConfigError(
            "the confusion-matrix PNG needs matplotlib: pip install 'edgeguard[eval]'"
        ) from None

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frac = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(8.5, 7.5), dpi=110)
    im = ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    for i in range(len(labels)):
        for j in range(len(labels)):
            if cm[i, j]:
                ax.text(
                    j,
                    i,
                    str(cm[i, j]),
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="white" if frac[i, j] > 0.5 else "black",
                )
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.04)
    fig.tight_layout()
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p)
    plt.close(fig)
    return p


def evaluate_models(
    names: list[str],
    n: int = 2600,
    attack: str | None = "pgd:eps=8/255,steps=20,alpha=2/255",
    n_attack: int = 2600,
    out: str | Path | None = None,
    confusion_png: str | Path | None = None,
    threads: int = 1,
    variety: str = "classic",
    command: str | None = None,
) -> dict[str, Any]:
    """Clean top-1 on ``n`` held-out rendered images (base seed ``TEST_SEED``, disjoint from training
    and validation) and accuracy under a white-box attack (``attack``: PGD by default, or any registered
    white-box attack spec, e.g. ``fgsm:eps=8/255``) on the first ``n_attack`` of them, per registered
    model (shipped weights). Optionally writes the JSON and the first model's confusion matrix PNG.
    ``variety`` draws the test signs as ``classic`` (the published numbers), ``wide`` or ``unseen``
    (held-out drawing choices, :mod:`edgeguard.data.looks`); ``command`` is recorded in the JSON."""
    from .data import dataset
    from .models import build

    torch.set_num_threads(max(1, threads))
    pgd = parse_adv(attack)
    x, y = dataset.render_arrays(dataset.SignDataset(n, dataset.TEST_SEED, variety=variety), workers=2)
    res: dict[str, Any] = {
        **({"command": command} if command else {}),
        "test_set": {
            "renderer_base_seed": dataset.TEST_SEED,
            "n": n,
            "size": 64,
            **({"variety": variety} if variety != "classic" else {}),
        },
        "attack": pgd.spec() if pgd else None,
        "models": {},
    }
    for k, name in enumerate(names):
        net, info = build(name)
        model = Normalized(net, info.mean, info.std)
        labels = list(info.labels or [])
        pred = predict(model, x)
        cm = confusion_matrix(pred, y, len(labels))
        r: dict[str, Any] = {
            "weights": Path(info.weights or "").name,
            "weights_sha256": hashlib.sha256(Path(info.weights).read_bytes()).hexdigest()
            if info.weights
            else None,
            "clean_top1": float((pred == y).mean()),
            "n_clean": int(n),
            "per_class_top1": {lab: float(cm[i, i] / max(cm[i].sum(), 1)) for i, lab in enumerate(labels)},
        }
        if pgd is not None and n_attack > 0:
            m = min(n_attack, n)
            t = time.time()
            r["robust_top1"] = float((predict(model, x[:m], pgd, y[:m]) == y[:m]).mean())
            r["n_attack"], r["attack_s"] = int(m), round(time.time() - t, 1)
        if k == 0:
            r["confusion"] = cm.tolist()
            if confusion_png:
                save_confusion_png(
                    cm,
                    labels,
                    confusion_png,
                    f"{name}: clean top-1 {r['clean_top1']:.2%} on {n} held-out rendered images",
                )
        res["models"][name] = r
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(res, indent=1) + "\n")
    return res
