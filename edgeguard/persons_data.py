"""Training data of the ``persons`` detector: cached scene sets, a pre-rendered scene pool, crops.

A training scene costs ~15 ms to render and a training step on 12 crops ~150 ms of one core, so the
first trainer rendered 12 fresh scenes per step; on the shared 2-core machine (load ~11) that starved
the step and capped the run at 700 steps. :func:`scene_pool` renders the training scenes once (shards of
:data:`POOL_SHARD` scenes ``(PERSONS_TRAIN_SEED, i)``, cached as ``.npz``), and every step draws its
scenes from the pool, each with a random crop, scale and flip, so no two crops are alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import torch

from .data.scene_sets import SceneSet, render_scene_set
from .data.scenes import DEFAULT_SURVEILLANCE

POOL_SHARD = 250
Scenes = list[tuple[np.ndarray, np.ndarray, np.ndarray]]  # (image, boxes, ignore) per scene


class CropConfig(Protocol):
    seed: int
    crop: int
    batch_size: int
    scale: float


def scene_cache(n: int, seed: int, cache: str | Path, workers: int = 1, size: int = 320) -> SceneSet:
    """Scenes ``(seed, 0..n-1)`` from ``cache/scenes-s{seed}-n{n}-{size}.npz``, rendered once if absent."""
    p = Path(cache) / f"scenes-s{seed}-n{n}-{size}.npz"
    if p.is_file():
        return SceneSet.load(p)
    p.parent.mkdir(parents=True, exist_ok=True)
    s = render_scene_set(n, seed, size, workers=workers, chunk=100)
    s.save(p)
    return s


def scene_pool(
    n: int, seed: int, cache: str | Path, workers: int = 1, size: int = 320, shard: int = POOL_SHARD
) -> SceneSet:
    """Scenes ``(seed, 0..n-1)`` (``n`` rounded up to whole shards) from shards
    ``cache/pool/pool-s{seed}-{j:03d}.npz`` of ``shard`` scenes, rendering the missing ones."""
    from .data import scene_sets

    root = Path(cache) / "pool"
    root.mkdir(parents=True, exist_ok=True)
    tag = "" if (shard, size) == (POOL_SHARD, 320) else f"-k{shard}-{size}"
    shards = [root / f"pool-s{seed}{tag}-{j:03d}.npz" for j in range(-(-n // shard))]
    todo = [
        (seed, j * shard, (j + 1) * shard, size, DEFAULT_SURVEILLANCE)
        for j, p in enumerate(shards)
        if not p.is_file()
    ]
    if todo:
        from multiprocessing import get_context

        if workers > 1:
            with get_context("fork").Pool(workers) as pool:
                parts = pool.map(scene_sets._render_chunk, todo)
        else:
            parts = [scene_sets._render_chunk(t) for t in todo]
        for t, part in zip(todo, parts, strict=True):
            part.save(shards[t[1] // shard])
    sets = [SceneSet.load(p) for p in shards]
    return SceneSet(*(np.concatenate([getattr(s, k) for s in sets]) for k in SceneSet.__dataclass_fields__))


def pool_scenes(pool: SceneSet, starts: np.ndarray, step: int, cfg: CropConfig) -> Scenes:
    """The scenes of step ``step``: ``batch_size`` pool scenes drawn from ``(seed, step)``.
    ``starts[i]``: the first person row of pool image ``i`` (``image_index`` is sorted)."""
    rng = np.random.default_rng((cfg.seed, step, 7))
    out = []
    for i in rng.integers(0, len(pool), cfg.batch_size):
        a, b = starts[i], starts[i + 1]
        out.append((pool.images[i], pool.boxes[a:b], pool.ignore[a:b]))
    return out


def person_starts(pool: SceneSet) -> np.ndarray:
    """``starts`` for :func:`pool_scenes` (length ``len(pool) + 1``)."""
    return np.searchsorted(pool.image_index, np.arange(len(pool) + 1)).astype(np.int64)


def sample_batch(
    scenes: Scenes, step: int, cfg: CropConfig
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Crops of step ``step``: images ``(B, 3, c, c)``, GT ``(B, K, 4)`` and flags ``(B, K)`` (1 person,
    -1 ignore, 0 padding). With ``cfg.scale = σ`` the crop is taken at a zoom ``exp(U(-σ, σ))`` (a
    ``c / zoom`` window resized to ``c``; σ = 0: no resize, the first trainer's crops). A person cut by the
    crop to under 60 % of its box, or under 8 px tall after the zoom, is ignored."""
    rng = np.random.default_rng((cfg.seed, step))
    c = cfg.crop
    imgs, gts = [], []
    for image, boxes, ign in scenes:
        size = image.shape[0]
        zoom = float(np.exp(rng.uniform(-cfg.scale, cfg.scale))) if cfg.scale > 0 else 1.0
        w = int(min(size, round(c / zoom)))
        zoom = c / w
        if len(boxes) and rng.random() < 0.8:
            b = boxes[rng.integers(len(boxes))]
            cx, cy = (
                (b[0] + b[2]) / 2 + rng.uniform(-w / 2.5, w / 2.5),
                (b[1] + b[3]) / 2 + rng.uniform(-w / 2.5, w / 2.5),
            )
            x0, y0 = int(np.clip(cx - w / 2, 0, size - w)), int(np.clip(cy - w / 2, 0, size - w))
        else:
            x0, y0 = (int(v) for v in rng.integers(0, size - w + 1, 2))
        img = image[y0 : y0 + w, x0 : x0 + w]
        if w != c:
            img = cv2.resize(img, (c, c), interpolation=cv2.INTER_AREA if w > c else cv2.INTER_LINEAR)
        bx = (boxes - np.array([x0, y0, x0, y0], np.float32)) * np.float32(zoom)
        cl = np.clip(bx, 0, c)
        area = np.prod(np.clip(bx[:, 2:] - bx[:, :2], 1e-6, None), 1)
        kept = np.prod(np.clip(cl[:, 2:] - cl[:, :2], 0, None), 1) / area
        inside = kept > 0
        flag = np.where(ign | (kept < 0.6) | (cl[:, 3] - cl[:, 1] < 8), -1.0, 1.0)[inside]
        cl = cl[inside]
        if rng.random() < 0.5:
            img = img[:, ::-1]
            cl = np.stack([c - cl[:, 2], cl[:, 1], c - cl[:, 0], cl[:, 3]], 1)
        imgs.append(np.ascontiguousarray(img))
        gts.append((cl, flag))
    k = max(1, max(len(g[0]) for g in gts))
    gt = torch.zeros(len(gts), k, 4)
    fl = torch.zeros(len(gts), k)
    for j, (b, f) in enumerate(gts):
        gt[j, : len(b)] = torch.from_numpy(b.astype(np.float32))
        fl[j, : len(f)] = torch.from_numpy(f.astype(np.float32))
    x = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float().div_(255.0)
    return x, gt, fl


__all__ = ["POOL_SHARD", "person_starts", "pool_scenes", "sample_batch", "scene_cache", "scene_pool"]
