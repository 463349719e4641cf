"""Host stages against their reference implementations, on 224×224 real photos, CPU, one run.

Writes ``benchmarks/results/host_stages.json``. Each comparison interleaves the two sides call by
call (A, B, A, B, …) and reports medians and their ratio, so load from other processes hits both
sides alike; absolute times are noise on a shared machine, the ratios are the result. Times are the
CPU time of the process during each call (``time.process_time``; torch and OpenCV limited to one
thread, so that is each call's latency on an idle core, not its wait for one).

* ``tvm`` vs ART ``TotalVarMin`` (if ART is importable): ART's defaults (keep 0.3, λ 0.5, 10
  L-BFGS-B iterations) against ours at keep 0.3 with 10 and with 100 (Guo) iterations, and both at
  100 iterations (equal settings; one image and one timed pair, ART takes ~50 s an image there);
* ``rof`` vs ``skimage.restoration.denoise_tv_chambolle`` at equal weight (skimage's default stop);
* ``nlm`` (11_3_4) vs the raw ``cv2.fastNlMeansDenoisingColored`` call (target ≤ 1.2×);
* ``jpeg`` and ``kmeans`` vs their raw OpenCV calls;
* ``dip``: seconds per image to its stop at 64×64 and 224×224, iterations used by ``stop=plateau``
  vs the fixed 1750 (the 224×224 fixed run is capped by ``budget_s`` and says so).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import meta
import numpy as np
from skimage.restoration import denoise_tv_chambolle

from edgeguard import stages
from edgeguard.samples import photo_batch

RESULTS = Path(__file__).parent / "results"


def _paired(a: Callable[[], Any], b: Callable[[], Any], runs: int) -> dict[str, float]:
    """Interleaved medians in ms of ``a`` and ``b`` (one warm-up each) and ``b / a``."""
    a()
    b()
    ta, tb = [], []
    for _ in range(runs):
        for fn, acc in ((a, ta), (b, tb)):
            t0 = time.process_time()
            fn()
            acc.append((time.process_time() - t0) * 1e3)
    ma, mb = statistics.median(ta), statistics.median(tb)
    return {"ours_ms": round(ma, 2), "reference_ms": round(mb, 2), "reference_over_ours": round(mb / ma, 2)}


def _per_image(x: np.ndarray, fn: Callable[[np.ndarray], Any]) -> Callable[[], None]:
    return lambda: [fn(img) for img in x]


def bench_tvm(x: np.ndarray, runs: int) -> dict[str, Any]:
    try:
        from art.defences.preprocessor import TotalVarMin
    except ImportError:
        return {"art": "not installed (pip install '.[bench]')"}
    nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    out: dict[str, Any] = {}
    art10 = TotalVarMin(prob=0.3, norm=2, lamb=0.5, solver="L-BFGS-B", max_iter=10, clip_values=(0.0, 1.0))
    art100 = TotalVarMin(prob=0.3, norm=2, lamb=0.5, solver="L-BFGS-B", max_iter=100, clip_values=(0.0, 1.0))
    for label, ours, art, n in (
        ("art_defaults_vs_ours_10_iters", dict(iters=10), art10, runs),
        ("art_defaults_vs_ours_100_iters", dict(iters=100), art10, runs),
        ("both_100_iters", dict(iters=100), art100, 1),
    ):
        # ART at 100 iterations takes ~50 s an image on a loaded core: one image, one timed pair
        xi, ni = (x[:1], nhwc[:1]) if label == "both_100_iters" else (x, nhwc)
        stage = stages.create("tvm", keep=0.3, lam=0.5, seed=0, **ours)
        r = _paired(lambda s=stage, v=xi: s(v), lambda a=art, v=ni: a(v), n)
        out[label] = {k: (round(v / len(xi), 2) if k.endswith("_ms") else v) for k, v in r.items()}
        out[label]["images"] = len(xi)
    out["note"] = (
        "ms per image; ART solves its own objective (L2 norm, row-wise TV) per image with scipy "
        "L-BFGS-B, ours the isotropic masked TV-L2 with batched Chambolle-Pock; same keep and lambda"
    )
    return out


def bench_rof(x: np.ndarray, runs: int) -> dict[str, Any]:
    """ROF vs skimage at weight 0.1: defaults vs defaults, and both at 200 iterations.

    Accuracy is the max/mean |Δ| to skimage run to 1000 iterations (eps 1e-9). skimage's default
    stop (relative energy change < 2e-4) ends after a few iterations, far from the minimiser.
    """
    ref = np.stack(
        [
            denoise_tv_chambolle(
                i.astype(np.float64), weight=0.1, channel_axis=0, eps=1e-9, max_num_iter=1000
            )
            for i in x
        ]
    )
    res: dict[str, Any] = {}
    for label, iters, sk_kw in (
        ("defaults", 200, {}),
        ("ours_10_iters_vs_skimage_default", 10, {}),
        ("both_200_iters", 200, {"eps": 0.0, "max_num_iter": 200}),
    ):
        stage = stages.create("rof", weight=0.1, iters=iters)
        sk = _per_image(x, lambda img, kw=sk_kw: denoise_tv_chambolle(img, weight=0.1, channel_axis=0, **kw))
        r = _paired(lambda s=stage: s(x), sk, runs)
        ours_err = np.abs(stage(x) - ref)
        sk_err = np.abs(
            np.stack([denoise_tv_chambolle(i, weight=0.1, channel_axis=0, **sk_kw) for i in x]) - ref
        )
        res[label] = {
            **{k: (round(v / len(x), 2) if k.endswith("_ms") else v) for k, v in r.items()},
            "ours_err_max_mean": [round(float(ours_err.max()), 4), round(float(ours_err.mean()), 5)],
            "skimage_err_max_mean": [round(float(sk_err.max()), 4), round(float(sk_err.mean()), 5)],
        }
    return res


def _bgr_u8(x: np.ndarray) -> list[np.ndarray]:
    return [np.ascontiguousarray(np.rint(i * 255).astype(np.uint8).transpose(1, 2, 0)[..., ::-1]) for i in x]


def bench_opencv(x: np.ndarray, runs: int) -> dict[str, Any]:
    u8 = _bgr_u8(x)
    nlm, jpeg, km = (
        stages.from_spec("nlm:11_3_4"),
        stages.create("jpeg", quality=75),
        stages.create("kmeans", k=8),
    )

    def raw_jpeg() -> None:
        for img in u8:
            cv2.imdecode(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 75])[1], cv2.IMREAD_COLOR)

    def raw_kmeans() -> None:
        crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 1e-4)
        for img in x:
            cv2.setRNGSeed(0)
            cv2.kmeans(img.reshape(3, -1).T.copy(), 8, None, crit, 3, cv2.KMEANS_PP_CENTERS)

    res = {}
    for name, stage, raw in (
        ("nlm", nlm, lambda: [cv2.fastNlMeansDenoisingColored(i, None, 4, 4, 3, 11) for i in u8]),
        ("jpeg", jpeg, raw_jpeg),
        ("kmeans", km, raw_kmeans),
    ):
        r = _paired(lambda s=stage: s(x), raw, runs)
        res[name] = {
            "ours_ms": round(r["ours_ms"] / len(x), 2),
            "raw_opencv_ms": round(r["reference_ms"] / len(x), 2),
            "ours_over_raw": round(r["ours_ms"] / r["reference_ms"], 3),
        }
    return res


def bench_dip(budget_224_s: float = 60.0) -> dict[str, Any]:
    res: dict[str, Any] = {}
    for size in (64, 224):
        img = photo_batch(1, (size, size))
        runs = {
            "plateau": stages.create(
                "dip", stop="plateau", iters=1750, seed=0, budget_s=None if size == 64 else budget_224_s
            ),
            "fixed_1750": stages.create(
                "dip", iters=1750, seed=0, budget_s=None if size == 64 else budget_224_s
            ),
        }
        for label, stage in runs.items():
            stage(img)
            info = stage.last_info
            res[f"{size}x{size}_{label}"] = {
                "seconds": round(info["seconds"], 2),
                "iterations": info["iterations"],
                "stopped_by": info["stopped_by"],
                "ms_per_iteration": round(1e3 * info["seconds"] / info["iterations"], 2),
                "final_mse": round(info["best_loss"][0], 6),
            }
    res["note"] = (
        f"one image per run, CPU; 224x224 runs capped at budget_s={budget_224_s:g} "
        "(stopped_by says whether the cap hit)"
    )
    return res


def main(runs: int = 7) -> dict[str, Any]:
    """Run every comparison once and write ``benchmarks/results/host_stages.json``."""
    import torch

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    x = photo_batch(4, (224, 224))
    t0 = time.perf_counter()
    result: dict[str, Any] = {
        **meta.header("host_stages", []),
        "images": "4 skimage photos resized to 224x224 (edgeguard.samples.photo_batch)",
        "device": "cpu",
        "tvm_vs_art_totalvarmin": bench_tvm(x[:2], max(3, runs // 2)),
        "rof_vs_skimage_tv_chambolle": bench_rof(x, runs),
        "opencv_stages_vs_raw_calls": bench_opencv(x, runs),
        "dip": bench_dip(),
    }
    result["seconds_total"] = round(time.perf_counter() - t0, 1)
    meta.write("host_stages", result)
    return result


if __name__ == "__main__":
    json.dump(main(), sys.stdout, indent=2)
    print()
