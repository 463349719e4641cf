"""Training and evaluation of the embedded ``persons`` detector on rendered surveillance scenes.

``train_persons(PersonTrainConfig())`` trains :class:`~edgeguard.models.persons.PersonDetector` with
AdamW and a cosine schedule on random crops (most centred near a person) with horizontal flips, and
saves safetensors weights plus a JSON log.
Every step renders fresh scenes ``(PERSONS_TRAIN_SEED, step·B + j)`` in a data-loader worker (rendering
costs a third of a training step; no scene is seen twice) and draws its crops from ``(seed, step)``: the
same config gives the same batches. Validation scenes are cached as ``.npz`` under ``cache``.

Assignment (FCOS-style centre sampling, Tian et al. 2019): an anchor point is positive for a person when
it lies inside the box, within 2.5 strides of its centre, and on a level whose size range holds the box
(stride 8: up to 96 px, 16: 64–192 px, 32: from 128 px); an anchor claimed by two people goes to the
smaller; a person left without anchors takes its nearest one. Anchors on ``ignore`` people are left out
of the class loss. Losses: varifocal class loss with the IoU of the predicted box as the positive target
(Zhang et al. 2021, VarifocalNet: scores rank by localisation quality, which NMS needs) and GIoU box loss
(Rezatofighi et al. 2019).

Stage 2 (``topk=5``, warm-started with ``init``): with every candidate anchor a class positive, each
person ends up with dozens of boxes scored ~0.5 that NMS at IoU 0.7 cannot merge (stage 1 alone: val
AP@0.5 0.42, precision 6 % at conf 0.25). Keeping only each person's 5 best-localised anchors as
positives, the rest negatives (the top-k step of task-aligned assignment, Feng et al. 2021, TOOD),
teaches one peak per person. Stage 3 (``tal=10``, warm-started from stage 2) replaces both the
geometric positives and the varifocal loss by task-aligned assignment with IoU-aware BCE targets
(:mod:`edgeguard.persons_tal`). The shipped weights, reproducibly::

    python -m edgeguard.train_persons --out stage1.safetensors                  # 700 steps
    python -m edgeguard.train_persons --init stage1.safetensors --steps 200 --lr 5e-4 --warmup 10 \
        --topk 5 --seed 1 --scene-offset 8400 --out stage2.safetensors
    python -m edgeguard.train_persons --init stage2.safetensors --steps 160 --lr 5e-4 --warmup 10 \
        --tal 10 --seed 2 --scene-offset 10800 --threads 2 --n-val 0 --out persons.safetensors
    python -m edgeguard.train_persons --eval                                     # the README numbers
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .data.scene_sets import (
    PERSONS_TEST_SEED,
    PERSONS_TRAIN_SEED,
    PERSONS_VAL_SEED,
    SceneSet,
    render_scene_set,
)
from .data.scenes import render_surveillance
from .eval.ap import average_precision
from .models.persons import PersonDetector
from .persons_tal import tal_loss

LEVEL_RANGES = {8: (0.0, 96.0), 16: (64.0, 192.0), 32: (128.0, 1e9)}
CENTRE_RADIUS = 2.5


@dataclass
class PersonTrainConfig:
    """Everything that determines a training run (stored in the JSON log)."""

    out: str = "edgeguard/models/weights/persons.safetensors"
    n_val: int = 300
    steps: int = 700
    batch_size: int = 12
    crop: int = 224
    lr: float = 2e-3
    weight_decay: float = 5e-4
    warmup: int = 40
    seed: int = 0
    threads: int = 1
    workers: int = 1
    cache: str = "/tmp/edgeguard-persons"
    init: str | None = None  # warm start (stage 2 starts from stage 1's weights)
    topk: int = 0  # > 0: only each person's k best-localised anchors are class positives (stage 2)
    scene_offset: int = 0  # first training scene index (stage 2 sees scenes stage 1 never did)
    tal: int = 0  # > 0: task-aligned assignment with this top-k and IoU-aware BCE targets (stage 3)


def scene_cache(n: int, seed: int, cache: str | Path, workers: int = 1, size: int = 320) -> SceneSet:
    """Scenes ``(seed, 0..n-1)`` from ``cache/scenes-s{seed}-n{n}-{size}.npz``, rendered once if absent."""
    p = Path(cache) / f"scenes-s{seed}-n{n}-{size}.npz"
    if p.is_file():
        return SceneSet.load(p)
    p.parent.mkdir(parents=True, exist_ok=True)
    s = render_scene_set(n, seed, size, workers=workers, chunk=100)
    s.save(p)
    return s


def scenes_of_step(step: int, cfg: PersonTrainConfig) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The fresh scenes of training step ``step``: ``(image, boxes, ignore)`` for scenes
    ``(PERSONS_TRAIN_SEED, step·B + j)`` — every step sees new scenes, rendered by the loader workers."""
    out = []
    for j in range(cfg.batch_size):
        sc = render_surveillance((PERSONS_TRAIN_SEED, cfg.scene_offset + step * cfg.batch_size + j), 320)
        out.append((sc.image, sc.boxes, sc.ignore))
    return out


def sample_batch(
    scenes: list[tuple[np.ndarray, np.ndarray, np.ndarray]], step: int, cfg: PersonTrainConfig
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Crops of step ``step``: images ``(B, 3, c, c)``, GT ``(B, K, 4)`` and flags ``(B, K)`` (1 person,
    -1 ignore, 0 padding). A person cut by the crop to under 60 % of its box or 8 px is ignored."""
    rng = np.random.default_rng((cfg.seed, step))
    c = cfg.crop
    imgs, gts = [], []
    for image, boxes, ign in scenes:
        size = image.shape[0]
        if len(boxes) and rng.random() < 0.8:
            b = boxes[rng.integers(len(boxes))]
            cx, cy = (
                (b[0] + b[2]) / 2 + rng.uniform(-c / 2.5, c / 2.5),
                (b[1] + b[3]) / 2 + rng.uniform(-c / 2.5, c / 2.5),
            )
            x0, y0 = int(np.clip(cx - c / 2, 0, size - c)), int(np.clip(cy - c / 2, 0, size - c))
        else:
            x0, y0 = (int(v) for v in rng.integers(0, size - c + 1, 2))
        img = image[y0 : y0 + c, x0 : x0 + c]
        bx = boxes - np.array([x0, y0, x0, y0], np.float32)
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


def assign(
    points: torch.Tensor,
    strides: torch.Tensor,
    gt: torch.Tensor,
    flags: torch.Tensor,
    with_cand: bool = False,
) -> tuple[torch.Tensor, ...]:
    """Positive mask ``(B, N)``, the person each positive regresses ``(B, N)``, ignore mask ``(B, N)``
    (and, ``with_cand``, the candidate matrix ``(B, N, K)`` that stage 3's assignment ranks)."""
    px, py = points[None, :, None, 0], points[None, :, None, 1]
    x1, y1, x2, y2 = (gt[:, None, :, i] for i in range(4))
    inside = (px > x1) & (px < x2) & (py > y1) & (py < y2)
    s = strides[None, :, None]
    centre = ((px - (x1 + x2) / 2).abs() < CENTRE_RADIUS * s) & (
        (py - (y1 + y2) / 2).abs() < CENTRE_RADIUS * s
    )
    m = torch.maximum(x2 - x1, y2 - y1)
    lo = torch.zeros_like(strides)
    hi = torch.zeros_like(strides)
    for st, (a, b) in LEVEL_RANGES.items():
        lo[strides == st], hi[strides == st] = a, b
    in_range = (m >= lo[None, :, None]) & (m <= hi[None, :, None])
    person = (flags == 1)[:, None, :]
    cand = inside & centre & in_range & person
    # a person without candidates takes its nearest in-range anchor
    dist = (px - (x1 + x2) / 2) ** 2 + (py - (y1 + y2) / 2) ** 2
    dist = torch.where(in_range, dist, torch.full_like(dist, float("inf")))
    nearest = dist.argmin(1)  # (B, K)
    lonely = (flags == 1) & ~cand.any(1)
    if lonely.any():
        b_idx, k_idx = torch.nonzero(lonely, as_tuple=True)
        cand[b_idx, nearest[b_idx, k_idx], k_idx] = True
    area = ((x2 - x1) * (y2 - y1)).expand_as(cand)
    cost = torch.where(cand, area, torch.full_like(area, float("inf")))
    fg = cand.any(2)
    idx = cost.argmin(2)
    ignore = (inside & (flags == -1)[:, None, :]).any(2) & ~fg
    return (fg, idx, ignore, cand) if with_cand else (fg, idx, ignore)


def _giou(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    lt, rb = torch.maximum(a[..., :2], b[..., :2]), torch.minimum(a[..., 2:], b[..., 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area_a, area_b = (
        (a[..., 2:] - a[..., :2]).clamp(min=0).prod(-1),
        (b[..., 2:] - b[..., :2]).clamp(min=0).prod(-1),
    )
    union = area_a + area_b - inter + 1e-7
    iou = inter / union
    hull = (torch.maximum(a[..., 2:], b[..., 2:]) - torch.minimum(a[..., :2], b[..., :2])).clamp(min=0).prod(
        -1
    ) + 1e-7
    return iou, iou - (hull - union) / hull


def detection_loss(
    model: PersonDetector, x: torch.Tensor, gt: torch.Tensor, flags: torch.Tensor, topk: int = 0, tal: int = 0
) -> tuple[torch.Tensor, dict]:
    d, logits, pts, strides = model.raw(x)
    fg, idx, ignore, cand = assign(pts, strides, gt, flags, with_cand=True)
    pred = torch.cat([pts - d[..., :2], pts + d[..., 2:]], -1)
    if tal > 0:  # stage 3: task-aligned top-k positives with IoU-aware soft targets (persons_tal.py)
        cls_loss, box_loss, n = tal_loss(logits[..., 0], pred, gt, cand, ignore, _giou, tal)
        loss = 0.5 * cls_loss + 7.5 * box_loss  # YOLOv8's class and box gains
        return loss, {"cls": float(cls_loss.detach()), "box": float(box_loss.detach()), "fg": int(n)}
    tgt = torch.gather(gt, 1, idx[..., None].expand(-1, -1, 4))
    iou, giou = _giou(pred, tgt)
    n_fg = max(int(fg.sum()), 1)
    box_loss = (1 - giou)[fg].sum() / n_fg
    logit = logits[..., 0]
    pos = fg
    if topk > 0:  # one peak per person: its k best boxes are positives, its other anchors negatives
        k_all = gt.shape[1]
        per = torch.where(
            fg[..., None] & (idx[..., None] == torch.arange(k_all)), iou.detach()[..., None], -1.0
        )
        top = per.topk(min(topk, per.shape[1]), dim=1)
        mark = torch.zeros_like(per, dtype=torch.bool).scatter_(1, top.indices, top.values > -1)
        pos = mark.any(2) & fg
    q = torch.where(pos, iou.detach().clamp(min=0.05), torch.zeros_like(iou))
    p = logit.detach().sigmoid()
    w = torch.where(pos, q, 0.75 * p**2) * (~ignore).float()
    cls_loss = (F.binary_cross_entropy_with_logits(logit, q, reduction="none") * w).sum() / max(
        float(q.sum()), 1.0
    )
    loss = cls_loss + 2.0 * box_loss
    return loss, {"cls": float(cls_loss.detach()), "box": float(box_loss.detach()), "fg": n_fg}


@torch.no_grad()
def raw_outputs(model: torch.nn.Module, images: np.ndarray, batch: int = 16) -> np.ndarray:
    """The model's ``(n, N, 5)`` rows (cx, cy, w, h, score) for uint8 RGB images."""
    ys = []
    for s in range(0, len(images), batch):
        x = torch.from_numpy(np.ascontiguousarray(images[s : s + batch])).permute(0, 3, 1, 2)
        ys.append(model(x.float().div_(255.0)).transpose(1, 2).numpy())
    return np.concatenate(ys)


def predict(
    model: torch.nn.Module | None,
    images: np.ndarray | None,
    conf: float = 0.001,
    iou: float = 0.7,
    max_det: int = 300,
    batch: int = 16,
    raw: np.ndarray | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(boxes xyxy, scores) per uint8 RGB image (or per row of ``raw``, precomputed model outputs):
    confidence filter, then the host NMS of the detection decision (:func:`edgeguard.nms.nms`,
    torchvision's rule)."""
    from .nms import nms, xywh_to_xyxy

    y = raw_outputs(model, images, batch) if raw is None else raw
    out = []
    for r in y:
        r = r[r[:, 4] > conf]
        xyxy = xywh_to_xyxy(r[:, :4])
        k = nms(xyxy, r[:, 4], iou)[:max_det]
        out.append((xyxy[k], r[k, 4]))
    return out


def evaluate(
    model: torch.nn.Module, data: SceneSet, conf: float = 0.25, iou: float = 0.7
) -> dict[str, float]:
    """mAP@0.5 (one class: AP@0.5), recall/precision at ``conf``/``iou``, AP on people under 48 px."""
    model.eval()
    raw = raw_outputs(model, data.images)  # one forward pass serves both operating points
    dets = predict(None, None, raw=raw)
    gts = [data.targets(i) for i in range(len(data))]
    ap = average_precision(dets, gts, 0.5)
    small = average_precision(dets, gts, 0.5, size=(0, 48))
    thr = [(b[s >= conf], s[s >= conf]) for b, s in predict(None, None, conf=conf, iou=iou, raw=raw)]
    at = average_precision(thr, gts, 0.5)
    return {
        "map50": ap.ap,
        "ap50_small": small.ap,
        "recall": at.recall,
        "precision": at.precision,
        "n_images": len(data),
        "n_people": ap.n_gt,
        "n_small": small.n_gt,
    }


def _as_is(item: list) -> list:
    return item  # keep numpy arrays (the default collate would make tensors)


class _StepScenes(torch.utils.data.Dataset):
    """Item ``step`` = the scenes of that step (rendered in the loader's worker processes)."""

    def __init__(self, cfg: PersonTrainConfig) -> None:
        self.cfg = cfg

    def __len__(self) -> int:
        return self.cfg.steps

    def __getitem__(self, step: int) -> list:
        return scenes_of_step(step, self.cfg)


def train_persons(cfg: PersonTrainConfig, log=print) -> dict:
    """Train and save the detector; returns the JSON log (also written next to the weights)."""
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    t0 = time.time()
    val = scene_cache(cfg.n_val, PERSONS_VAL_SEED, cfg.cache, cfg.workers) if cfg.n_val else None
    loader = torch.utils.data.DataLoader(
        _StepScenes(cfg),
        batch_size=None,
        num_workers=cfg.workers,
        prefetch_factor=4 if cfg.workers else None,
        multiprocessing_context="fork" if cfg.workers else None,
        collate_fn=_as_is,
    )
    model = PersonDetector()
    if cfg.init:
        from .models.weights import load_into

        load_into(model, cfg.init, arch="persons")
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    other = [p for n, p in model.named_parameters() if p.ndim <= 1]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": other, "weight_decay": 0}], lr=cfg.lr
    )
    history, t_train = [], time.time()
    model.train()
    for step, scenes in enumerate(loader):
        lr = cfg.lr * min(1.0, (step + 1) / cfg.warmup) * 0.5 * (1 + math.cos(math.pi * step / cfg.steps))
        for g in opt.param_groups:
            g["lr"] = lr
        x, gt, fl = sample_batch(scenes, step, cfg)
        loss, parts = detection_loss(model, x, gt, fl, cfg.topk, cfg.tal)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        if step % 20 == 0 or step == cfg.steps - 1:
            rec = {
                "step": step,
                "loss": float(loss.detach()),
                **parts,
                "lr": lr,
                "s": round(time.time() - t_train, 1),
            }
            history.append(rec)
            log(json.dumps(rec))
    train_s = time.time() - t_train
    metrics = evaluate(model, val) if val is not None else {}  # --n-val 0: no validation pass
    log(f"val: {metrics}")
    out = Path(cfg.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    from safetensors.torch import save_file

    tmp = out.with_name(out.name + ".part")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp))
    tmp.replace(out)
    result = {
        "config": asdict(cfg),
        "train_s": train_s,
        "wall_s": time.time() - t0,
        "val": metrics,
        "history": history,
    }
    out.with_suffix(".json").write_text(json.dumps(result, indent=1))
    return result


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=PersonTrainConfig.out)
    ap.add_argument("--steps", type=int, default=PersonTrainConfig.steps)
    ap.add_argument("--cache", default=PersonTrainConfig.cache)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lr", type=float, default=PersonTrainConfig.lr)
    ap.add_argument("--warmup", type=int, default=PersonTrainConfig.warmup)
    ap.add_argument("--init", default=None, help="Warm-start weights (stage 2).")
    ap.add_argument("--topk", type=int, default=0, help="Class positives per person (0 = all candidates).")
    ap.add_argument("--scene-offset", type=int, default=0, help="First training scene index.")
    ap.add_argument("--n-val", type=int, default=PersonTrainConfig.n_val, help="Validation scenes (0: none).")
    ap.add_argument("--tal", type=int, default=0, help="Task-aligned top-k (stage 3; 0 = off).")
    ap.add_argument("--eval", action="store_true", help="Evaluate the shipped weights on the test scenes.")
    ap.add_argument("-n", type=int, default=500, help="Test scenes for --eval (base seed PERSONS_TEST_SEED).")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    if a.eval:
        from .models import build

        model, _ = build("persons")
        data = scene_cache(a.n, PERSONS_TEST_SEED, a.cache, workers=2)
        t = time.time()
        print(json.dumps({**evaluate(model, data), "eval_s": round(time.time() - t, 1)}, indent=1))
        return
    train_persons(
        PersonTrainConfig(
            out=a.out,
            steps=a.steps,
            cache=a.cache,
            threads=a.threads,
            seed=a.seed,
            lr=a.lr,
            warmup=a.warmup,
            init=a.init,
            topk=a.topk,
            scene_offset=a.scene_offset,
            tal=a.tal,
            n_val=a.n_val,
        )
    )


if __name__ == "__main__":
    main()
