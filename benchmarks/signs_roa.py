"""``signs-roa`` (ROA + masked-copy training) against ``signs``: certification, stickers, latency.

Measures, for each model named on the command line (default ``signs-roa signs``):

* ``certify``: the certified fraction of N clean rendered stop signs (held-out base seed
  ``TEST_SEED``, the frames ``benchmarks/masking.py`` uses) at patch 0.25 and 0.1 of the face: every
  two-mask prediction through the exported onnxruntime engine is "stop" (PatchCleanser's condition,
  :func:`edgeguard.eval.certified.certified_correct`); the double-masking pipeline's clean accuracy
  and latency per frame (bare engine, masking engine's first round, full certified decision) on the
  first ``--latency-frames`` frames.
* ``accuracy``: clean top-1 on ``--n-acc`` held-out rendered images (``TEST_SEED``) of each renderer
  variety: ``classic`` (the shipped models' data), ``wide`` (signs-roa's training variety) and the
  held-out ``unseen`` style (signs drawn differently, :mod:`edgeguard.data.looks`).
* ``sticker``: the shipped ``stop-bars`` sticker (optimised against ``signs`` + bits:5 → median:3x3)
  worn by the stop sign over 200 fresh viewing conditions (the seed the shipped record used) on the
  bare model: fooled rate (read as anything but stop), and the clean face's fooled rate on the same
  views.

Writes ``benchmarks/results/signs_roa.json``.

    python benchmarks/signs_roa.py [MODEL ...] [--n 100] [--views 200] [--latency-frames 10]
        [--n-acc 500] [--patch 0.25 --patch 0.1] [--skip accuracy|sticker|certify]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

import edgeguard
from edgeguard import models
from edgeguard.attacks import Normalized
from edgeguard.attacks.rp2 import success
from edgeguard.data.dataset import TEST_SEED
from edgeguard.data.render import render_scene
from edgeguard.eval.certified import certified_correct
from edgeguard.eval.sticker import FACE_SCALE, MEASURE_SEED_OFFSET, stop_face

OUT = Path(__file__).parent / "results" / "signs_roa.json"
STICKER = Path(edgeguard.__file__).parent / "models" / "stickers" / "stop-bars.png"


def stop_frames(n: int) -> np.ndarray:
    frames = np.stack([render_scene("stop", (TEST_SEED, 10_000 + i)) for i in range(n)])
    return np.ascontiguousarray(frames.transpose(0, 3, 1, 2), dtype=np.float32) / np.float32(255)


def certify(name: str, x: np.ndarray, patch: float, latency_frames: int) -> dict:
    with tempfile.TemporaryDirectory() as d:
        bare = edgeguard.export(name, out=Path(d) / "bare.onnx", parity_images=2)
        masked = edgeguard.export(name, masking=f"patch={patch}", out=Path(d) / "m.onnx", parity_images=2)
        with edgeguard.load(bare.path, threads=1) as p_bare, edgeguard.load(masked.path, threads=1) as p_mask:
            stop = p_bare.labels.index("stop")
            bare_ok = [r.decision["top"][0]["index"] == stop for r in p_bare.run_batch(x)]
            t0 = time.perf_counter()
            cert = certified_correct(p_bare, x, np.full(len(x), stop), patch)
            cert_s = time.perf_counter() - t0
            k = min(latency_frames, len(x))
            t0 = time.perf_counter()
            res = [p_mask.run_batch(x[i : i + 1])[0] for i in range(k)]
            decision_ms = (time.perf_counter() - t0) * 1e3 / max(k, 1)
            one = x[:1]
            p_bare.engine(one), p_mask.engine(one)  # warm-up
            t = [time.perf_counter(), 0.0, 0.0]
            for _ in range(50):
                p_bare.engine(one)
            t[1] = time.perf_counter()
            for _ in range(10):
                p_mask.engine(one)
            t[2] = time.perf_counter()
    return {
        "patch": patch,
        "n": len(x),
        "mask_set": masked.manifest.masking.to_dict(),
        "clean_accuracy_bare": float(np.mean(bare_ok)),
        "certified_fraction": float(np.mean(cert)),
        "certify_s_per_frame": cert_s / len(x),
        "double_masking_clean_accuracy": float(
            np.mean([r.decision["masking"]["index"] == stop for r in res])
        ),
        "double_masking_frames": k,
        "certified_decision_agrees": float(np.mean([bool(r.certified) == c for r, c in zip(res, cert[:k])])),
        "latency_ms": {
            "bare_engine": (t[1] - t[0]) * 1e3 / 50,
            "masking_first_round": (t[2] - t[1]) * 1e3 / 10,
            "certified_decision_mean": decision_ms,
        },
    }


def sticker(name: str, views: int) -> dict:
    net, info = models.build(name)
    model = Normalized(net, tuple(info.mean), tuple(info.std)).eval()
    side = int(info.input_size[0])
    face, alpha = stop_face(FACE_SCALE * side)
    rgba = cv2.cvtColor(cv2.imread(str(STICKER), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGRA2RGBA)
    on = torch.from_numpy(rgba[..., 3] == 255)[None, None].float()
    colour = torch.from_numpy(rgba[..., :3].copy()).permute(2, 0, 1)[None].float() / 255
    worn = face * (1 - on) + colour * on
    stop = list(info.labels).index("stop")
    y = torch.tensor([stop])
    meta = json.loads(STICKER.with_suffix(".json").read_text())
    out = {}
    for what, img in (("sticker", worn), ("clean", face)):
        gen = torch.Generator().manual_seed(int(meta["seed"]) + MEASURE_SEED_OFFSET)
        out[what] = success(model, img, y, alpha=alpha, size=side, views=views, generator=gen)["fooled"]
    return {"views": views, "fooled": out["sticker"], "clean_fooled": out["clean"], "sticker": STICKER.name}


def accuracy(name: str, n: int, cache: dict) -> dict:
    from edgeguard.data.dataset import SignDataset, render_arrays
    from edgeguard.train_eval import predict

    net, info = models.build(name)
    model = Normalized(net, tuple(info.mean), tuple(info.std)).eval()
    out = {"n": n}
    for variety in ("classic", "wide", "unseen"):
        if variety not in cache:
            cache[variety] = render_arrays(SignDataset(n, TEST_SEED, 64, variety=variety), 1)
        x, y = cache[variety]
        out[variety] = float((predict(model, x) == y).mean())
    return out


def main() -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", default=["signs-roa", "signs"])
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--views", type=int, default=200)
    ap.add_argument("--latency-frames", type=int, default=10)
    ap.add_argument("--n-acc", type=int, default=500)
    ap.add_argument("--skip", action="append", default=[], help="accuracy | sticker | certify")
    ap.add_argument("--patch", type=float, action="append", default=None)
    a = ap.parse_args()
    torch.set_num_threads(1)
    x = stop_frames(a.n)
    cache: dict = {}
    kept = json.loads(OUT.read_text()) if OUT.is_file() else {}
    for name in a.models:
        rec = kept.get(name, {})
        if "accuracy" not in a.skip:
            rec["accuracy"] = accuracy(name, a.n_acc, cache)
        if "sticker" not in a.skip:
            rec["sticker"] = sticker(name, a.views)
        for patch in [] if "certify" in a.skip else a.patch or [0.25, 0.1]:
            rec.setdefault("certify", {})[str(patch)] = certify(name, x, patch, a.latency_frames)
        rec["frames"] = f"render_scene('stop', (TEST_SEED={TEST_SEED}, 10000 + i)), 64x64, classic"
        rec["machine"] = "2 shared CPU cores (onnxruntime CPU and torch, 1 thread), load recorded"
        rec["load_avg_1min"] = float(Path("/proc/loadavg").read_text().split()[0])
        kept[name] = rec
        print(name, json.dumps(rec, indent=1))
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(kept, indent=2) + "\n")
    return kept


if __name__ == "__main__":
    main()
