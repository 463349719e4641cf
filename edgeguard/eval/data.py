"""Evaluation data: ``--data signs | gtsrb:PATH | folder:PATH`` → float batches sized to the model.

* ``signs``: the sign renderer's held-out test set (base seed ``TEST_SEED``, the set the shipped
  models' published accuracy is measured on, disjoint from training and validation).
  ``signs:variety=unseen`` draws the same scenes' signs with held-out drawing choices (fonts, glyph
  rendering, proportions, palettes, border styles, wear that training never sees: a new user's own
  signs; :mod:`edgeguard.data.looks`); ``signs:variety=wide`` with the wide training variety.
* ``gtsrb:PATH``: a local GTSRB copy (test split when present, else the training split), cropped to
  its annotated sign; for a model with edgeguard's sign labels only the shared classes are kept and
  relabelled (``data.GTSRB_TO_SIGNS``).
* ``folder:PATH``: ``PATH/<class>/<images>``; class folders are matched to the model's labels by name
  (edgeguard's class ids such as ``stop`` or its label texts), or taken in sorted order when the model
  has no labels.

Nothing is downloaded. Universal attacks (UAP) need a *fitting* set disjoint from the evaluated one:
the renderer's validation seed for ``signs``, the examples after the evaluated ones otherwise.
``sha256`` (of the pixels and labels) goes into ``results.json`` so two evaluations can be compared.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import ConfigError
from .values import check_data_spec, signs_variety


@dataclass(frozen=True)
class EvalData:
    """Evaluated examples (``x`` (N, 3, H, W) float32 in [0, 1], ``y`` (N,) int64) + a fitting set."""

    spec: str
    x: torch.Tensor
    y: torch.Tensor
    labels: tuple[str, ...]
    fit_x: torch.Tensor
    fit_y: torch.Tensor

    @property
    def sha256(self) -> str:
        return data_hash(self.x, self.y)

    def describe(self) -> dict[str, object]:
        """The ``data`` entry of ``results.json``."""
        return {"spec": self.spec, "n": len(self.y), "size": list(self.x.shape[2:]), "sha256": self.sha256}


def data_hash(x: torch.Tensor, y: torch.Tensor) -> str:
    """sha256 over the float32 pixels, the int64 labels and the shape."""
    h = hashlib.sha256()
    h.update(str(tuple(x.shape)).encode())
    h.update(np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32).tobytes())
    h.update(np.ascontiguousarray(y.detach().cpu().numpy(), dtype=np.int64).tobytes())
    return h.hexdigest()


def _to_tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255.0)


def load_data(
    spec: str,
    n: int,
    size: tuple[int, int],
    *,
    labels: Sequence[str] | None = None,
    fit: int = 0,
    seed: int = 0,
) -> EvalData:
    """Load ``n`` evaluation examples (and ``fit`` fitting examples) as float batches.

    Args:
        spec: ``signs``, ``signs:variety=NAME``, ``gtsrb:PATH`` or ``folder:PATH``.
        n: examples to evaluate (fewer when a local dataset has fewer; never more).
        size: the model's input ``(H, W)``; images are rendered or resized to it.
        labels: the model's class labels (``None``: unknown; folders then keep their sorted order).
        fit: examples for fitting universal attacks, disjoint from the evaluated ones.
        seed: shuffles a local dataset before the first ``n`` are taken (classes spread evenly).

    Raises:
        ConfigError: a bad spec, a missing or malformed dataset, classes the model does not know,
            fewer than one example, a non-square size for the renderer.
    """
    try:
        check_data_spec(spec)
    except ValueError as err:
        raise ConfigError(f"--data: {err}") from None
    if n < 1:
        raise ConfigError(f"--n {n}: need at least one example")
    kind, _, path = spec.partition(":")
    if kind == "signs":
        return _signs(spec, n, size, fit, signs_variety(spec))
    from ..data.local import GTSRB, ImageFolder

    h, w = size
    if h != w:
        raise ConfigError(
            f"--data {spec}: the model's input {h}x{w} is not square (local loaders make squares)"
        )
    if kind == "gtsrb":
        ds = _gtsrb(GTSRB, path, h, labels)
        names = tuple(ds.labels)
        index = list(range(len(ds)))
        targets = [it[1] for it in ds.items]
    else:
        ds = ImageFolder(path, size=h)
        names, targets = _folder_targets(spec, ds.labels, labels, [it[1] for it in ds.items])
        index = list(range(len(ds)))
    if not index:
        raise ConfigError(f"--data {spec}: no images of classes the model knows")
    order = np.random.default_rng(seed).permutation(len(index))
    take = [index[i] for i in order[: n + fit]]
    if len(take) <= fit and fit:
        raise ConfigError(
            f"--data {spec}: {len(index)} images; need more than the {fit} held out for fitting"
        )
    images = np.stack([ds.image(i) for i in take])
    ys = torch.tensor([targets[i] for i in take], dtype=torch.int64)
    x = _to_tensor(images)
    k = len(take) - fit if fit else len(take)
    return EvalData(spec, x[:k], ys[:k], names, x[k:], ys[k:])


def _signs(spec: str, n: int, size: tuple[int, int], fit: int, variety: str) -> EvalData:
    from ..data import dataset
    from ..data.templates import LABELS

    h, w = size
    if h != w:
        raise ConfigError(
            f"--data signs: the model's input {h}x{w} is not square (the renderer draws squares)"
        )
    x, y = dataset.render_arrays(dataset.SignDataset(n, dataset.TEST_SEED, h, variety=variety))
    # the validation seed: disjoint from the test and training draws (data/dataset.py)
    fx, fy = dataset.render_arrays(dataset.SignDataset(fit, dataset.VAL_SEED, h, variety=variety))
    return EvalData(
        spec,
        _to_tensor(x),
        torch.from_numpy(y),
        tuple(LABELS),
        _to_tensor(fx).reshape(-1, 3, h, h),
        torch.from_numpy(fy),
    )


def _gtsrb(cls: type, path: str, size: int, labels: Sequence[str] | None):  # type: ignore[no-untyped-def]
    from ..data.templates import LABELS

    to_signs = labels is not None and tuple(labels) == tuple(LABELS)
    root = Path(path).expanduser()
    try:
        return cls(root, split="test", size=size, crop=True, to_signs=to_signs)
    except ConfigError:
        return cls(root, split="train", size=size, crop=True, to_signs=to_signs)


def _folder_targets(
    spec: str, folders: Sequence[str], labels: Sequence[str] | None, items: Sequence[int]
) -> tuple[tuple[str, ...], list[int]]:
    """Map folder class ``k`` → model class index by name; sorted order when the model has none."""
    if labels is None:
        return tuple(folders), list(items)
    from ..data.templates import CLASSES, LABELS

    lookup = {name.lower(): i for i, name in enumerate(labels)}
    if tuple(labels) == tuple(LABELS):
        lookup.update({c.lower(): i for i, c in enumerate(CLASSES)})
    mapping = {}
    for k, name in enumerate(folders):
        key = name.lower().replace("-", "_")
        idx = lookup.get(name.lower(), lookup.get(key))
        if idx is None:
            raise ConfigError(
                f"--data {spec}: class folder {name!r} is not one of the model's classes "
                f"({', '.join(list(labels)[:6])}{', …' if len(labels) > 6 else ''})"
            )
        mapping[k] = idx
    return tuple(labels), [mapping[k] for k in items]


__all__ = ["EvalData", "data_hash", "load_data"]
