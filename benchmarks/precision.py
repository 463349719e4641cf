"""Precision benchmark: top-1 of the sign model's fp32 / fp16 / int8 ONNX graphs in onnxruntime (CPU)
on the held-out rendered test set, and their top-1 agreement with fp32. Writes results/precision.json.

The graphs carry the default defense prefix (bits:5 → median:3x3), as deployed, and the shipped
``signs`` weights. INT8 is calibrated on 512 renders with the calibration seed (3), disjoint from the
test seed (2). Latency: the three graphs interleaved (:func:`meta.paired`, one onnxruntime thread) at
batch 1 and 32, each precision's median run-for-run ratio to fp32 with its bootstrap interval.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import meta  # noqa: E402

N_TEST = 1000
N_CALIB = 512
DEFENSES = ["bits:5", "median:3x3"]


def _run(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.concatenate([sess.run(None, {"input": x[i : i + 100]})[0] for i in range(0, len(x), 100)])


def latency(paths: dict[str, Path], x: np.ndarray, runs: int = 60) -> list[dict]:
    """fp16 and int8 against fp32, interleaved, at batch 1 and 32 (one onnxruntime thread)."""
    sess = {p: meta.session(path, 1) for p, path in paths.items()}
    rows = []
    for b in (1, 32):
        xb = x[:b]
        fns = {p: (lambda s=s, xb=xb: s.run(None, {"input": xb})) for p, s in sess.items()}
        rows.append({"batch": b, "threads": 1, **meta.paired(fns, runs=max(10, runs // (b // 8 or 1)))})
    return rows


def main() -> dict:
    from edgeguard.data import TEST_SEED, SignDataset, render_arrays, save_rgb
    from edgeguard.exporter.onnx import export
    from edgeguard.models import REGISTRY

    model, size = "signs", 64
    weights = Path(REGISTRY.get(model).extra["default_weights"])
    result: dict = {
        **meta.header("precision", sys.argv[1:]),
        "model": model,
        "weights": weights.name,
        "defenses": DEFENSES,
        "test_images": N_TEST,
        "calib_images": N_CALIB,
        "precisions": {},
    }
    imgs, labels = render_arrays(SignDataset(N_TEST, TEST_SEED, size))
    x = imgs.transpose(0, 3, 1, 2).astype(np.float32) / 255.0
    with tempfile.TemporaryDirectory() as d:
        cal = Path(d) / "calib"
        ds = SignDataset(N_CALIB, seed=3, size=size)
        for i in range(N_CALIB):
            save_rgb(cal / f"{i:05d}.png", ds.render(i))
        logits, paths = {}, {}
        for p in ("fp32", "fp16", "int8"):
            t0 = time.perf_counter()
            res = export(
                model,
                weights=weights,
                defense=DEFENSES,
                input_size=size,
                out=Path(d) / f"{p}.onnx",
                precision=p,
                calib=cal if p == "int8" else None,
                min_agreement=0.0,
            )
            secs = time.perf_counter() - t0
            paths[p] = res.path
            t1 = time.perf_counter()
            logits[p] = _run(res.path, x)
            ms = (time.perf_counter() - t1) / len(x) * 1e3
            pred = logits[p].argmax(1)
            ref = logits["fp32"]
            rel = float(np.abs(logits[p] - ref).max() / np.abs(ref).max())
            result["precisions"][p] = {
                "top1": round(float((pred == labels).mean()), 4),
                "agreement_with_fp32": round(float((pred == ref.argmax(1)).mean()), 4),
                "max_rel_vs_fp32": rel,
                "export_parity": pp.to_dict() if (pp := res.manifest.precision.parity) else None,
                "ms_per_image_cpu": round(ms, 3),
                "export_seconds": round(secs, 1),
                "file_kb": round(res.path.stat().st_size / 1024, 1),
            }
        result["latency"] = latency(paths, x)
    r = result["precisions"]
    result["int8_drop_points"] = round(100 * (r["fp32"]["top1"] - r["int8"]["top1"]), 2)
    meta.write("precision", result)
    return result


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
