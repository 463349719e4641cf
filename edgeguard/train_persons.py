"""Training and evaluation of the embedded ``persons`` detector on rendered surveillance scenes.

``train_persons(PersonTrainConfig())`` trains :class:`~edgeguard.models.persons.PersonDetector` with
AdamW and a cosine schedule on random crops (most centred near a person) with horizontal flips, and
saves safetensors weights plus a JSON log. Scenes come either fresh from the renderer every step
(``(PERSONS_TRAIN_SEED, step·B + j)`` in a data-loader worker; the first recipe) or, with ``pool``, from
scenes rendered once and cached (:mod:`edgeguard.persons_data`), each drawn with a random crop, zoom
(``scale``) and flip; the batches depend only on ``(seed, step)``. ``ema`` keeps a moving average of the
weights (YOLOv8's ModelEMA) and ``ckpt_every`` writes a checkpoint a rerun resumes from. Validation
scenes are cached as ``.npz`` under ``cache``.

Assignment (FCOS-style centre sampling, Tian et al. 2019): an anchor point is a candidate for a person
when it lies inside the box, within 2.5 strides of its centre, and on a level whose size range holds the
box (stride 8: up to 96 px, 16: 64–192 px, 32: from 128 px); a person left without candidates takes its
nearest anchor. Anchors on ``ignore`` people are left out of the class loss. With ``tal=k`` (the shipped
recipe) task-aligned assignment (Feng et al. 2021, TOOD; the YOLOv8 assigner) keeps each person's k
candidates with the highest score·IoU⁶ as positives with IoU-aware BCE targets
(:mod:`edgeguard.persons_tal`); without it every candidate is positive under a varifocal class loss
(Zhang et al. 2021) and ``topk`` keeps only each person's k best-localised ones. Box loss: GIoU
(Rezatofighi et al. 2019).

The shipped weights (``persons.json`` has the log): TAL from scratch on a pool of 10,000 scenes, 16
crops of 224 px per step, zoom exp(U(-0.25, 0.25))::

    python -m edgeguard.train_persons --out persons.safetensors --steps 4200 --batch-size 16 --lr 2e-3 \
        --warmup 200 --tal 10 --pool 10000 --scale 0.25 --ema 0.999 --ckpt-every 250 --n-val 300
    python -m edgeguard.train_persons --eval                                     # the README numbers

The first weights (fresh scenes per step, 1,060 steps in three stages, test mAP@0.5 0.48) were limited
by steps: on the shared machine rendering and training competed for the same quarter of a core.
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
)
from .data.scenes import render_surveillance
from .eval.ap import average_precision
from .models.persons import PersonDetector
from .persons_data import person_starts, pool_scenes, sample_batch, scene_cache, scene_pool
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
    pool: int = 0  # > 0: draw every step's scenes from this many pre-rendered ones (persons_data.py)
    scale: float = 0.0  # crop zoom exp(U(-scale, scale))
    ema: float = 0.0  # > 0: keep and save an exponential moving average of the weights (this decay)
    ckpt_every: int = 0  # > 0: write a resumable checkpoint (OUT.ckpt) every this many steps


def scenes_of_step(step: int, cfg: PersonTrainConfig) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The fresh scenes of training step ``step``: ``(image, boxes, ignore)`` for scenes
    ``(PERSONS_TRAIN_SEED, step·B + j)`` — every step sees new scenes, rendered by the loader workers."""
    out = []
    for j in range(cfg.batch_size):
        sc = render_surveillance((PERSONS_TRAIN_SEED, cfg.scene_offset + step * cfg.batch_size + j), 320)
        out.append((sc.image, sc.boxes, sc.ignore))
    return out


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


def _lr(cfg: PersonTrainConfig, step: int) -> float:
    return cfg.lr * min(1.0, (step + 1) / cfg.warmup) * 0.5 * (1 + math.cos(math.pi * step / cfg.steps))


def _batches(cfg: PersonTrainConfig, start: int):
    """``(step, scenes)`` from ``start``: pool draws (``cfg.pool``) or fresh renders in loader workers."""
    if cfg.pool:
        pool = scene_pool(cfg.pool, PERSONS_TRAIN_SEED, cfg.cache, cfg.workers)
        starts = person_starts(pool)
        for step in range(start, cfg.steps):
            yield step, pool_scenes(pool, starts, step, cfg)
        return
    loader = torch.utils.data.DataLoader(
        torch.utils.data.Subset(_StepScenes(cfg), range(start, cfg.steps)),
        batch_size=None,
        num_workers=cfg.workers,
        prefetch_factor=4 if cfg.workers else None,
        multiprocessing_context="fork" if cfg.workers else None,
        collate_fn=_as_is,
    )
    yield from enumerate(loader, start)


def _save_weights(model: torch.nn.Module, out: Path) -> None:
    from safetensors.torch import save_file

    tmp = out.with_name(out.name + ".part")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp))
    tmp.replace(out)


def train_persons(cfg: PersonTrainConfig, log=print) -> dict:
    """Train and save the detector; returns the JSON log (also written next to the weights).

    With ``ckpt_every`` the run writes ``OUT.ckpt`` (model, average, optimiser, step, log) and a rerun of
    the same config resumes from it; the batches depend only on ``(seed, step)``, so a resumed run sees
    the batches an uninterrupted one would."""
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    t0 = time.time()
    out = Path(cfg.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    ckpt = out.with_suffix(".ckpt")
    val = scene_cache(cfg.n_val, PERSONS_VAL_SEED, cfg.cache, cfg.workers) if cfg.n_val else None
    model = PersonDetector()
    if cfg.init:
        from .models.weights import load_into

        load_into(model, cfg.init, arch="persons")
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    other = [p for n, p in model.named_parameters() if p.ndim <= 1]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": other, "weight_decay": 0}], lr=cfg.lr
    )
    # weight averaging as YOLOv8 does (its ModelEMA); BatchNorm statistics averaged too (use_buffers)
    ema = (
        AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema), use_buffers=True)
        if cfg.ema
        else None
    )
    history: list[dict] = []
    start, done_s = 0, 0.0
    if cfg.ckpt_every and ckpt.is_file():
        state = torch.load(ckpt, weights_only=True)
        if state["config"] == json.dumps(asdict(cfg), sort_keys=True):
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["opt"])
            if ema is not None:
                ema.load_state_dict(state["ema"])
            start, done_s, history = int(state["step"]), float(state["train_s"]), json.loads(state["history"])
            log(f"resumed from {ckpt} at step {start}")
    t_train = time.time() - done_s
    model.train()
    for step, scenes in _batches(cfg, start):
        lr = _lr(cfg, step)
        for g in opt.param_groups:
            g["lr"] = lr
        x, gt, fl = sample_batch(scenes, step, cfg)
        loss, parts = detection_loss(model, x, gt, fl, cfg.topk, cfg.tal)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        if ema is not None:
            ema.update_parameters(model)
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
        if cfg.ckpt_every and (step + 1) % cfg.ckpt_every == 0 and step + 1 < cfg.steps:
            state = {
                "config": json.dumps(asdict(cfg), sort_keys=True),
                "model": model.state_dict(),
                "opt": opt.state_dict(),
                "step": step + 1,
                "train_s": time.time() - t_train,
                "history": json.dumps(history),
            }
            if ema is not None:
                state["ema"] = ema.state_dict()
            torch.save(state, ckpt.with_name(ckpt.name + ".part"))
            ckpt.with_name(ckpt.name + ".part").replace(ckpt)
    train_s = time.time() - t_train
    final = ema.module if ema is not None else model
    metrics = evaluate(final, val) if val is not None else {}  # --n-val 0: no validation pass
    log(f"val: {metrics}")
    _save_weights(final, out)
    result = {
        "config": asdict(cfg),
        "train_s": train_s,
        "wall_s": time.time() - t0,
        "val": metrics,
        "history": history,
    }
    out.with_suffix(".json").write_text(json.dumps(result, indent=1))
    ckpt.unlink(missing_ok=True)
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
    ap.add_argument("--pool", type=int, default=0, help="Pre-rendered training scenes (0: fresh per step).")
    ap.add_argument("--scale", type=float, default=0.0, help="Crop zoom exp(U(-scale, scale)).")
    ap.add_argument("--ema", type=float, default=0.0, help="Weight-average decay (0: off).")
    ap.add_argument("--ckpt-every", type=int, default=0, help="Resumable checkpoint interval (0: none).")
    ap.add_argument("--batch-size", type=int, default=PersonTrainConfig.batch_size)
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
            pool=a.pool,
            scale=a.scale,
            ema=a.ema,
            ckpt_every=a.ckpt_every,
            batch_size=a.batch_size,
        )
    )


if __name__ == "__main__":
    main()
