"""Certified masking on the shipped ``signs`` model: certified fraction of clean stop signs, latency.

Exports ``signs`` bare and with ``--masking patch=PATCH`` (PatchCleanser double-masking, the mask set
of :mod:`edgeguard.certify`), renders N clean stop-sign crops (the sign renderer, held-out base seed
``TEST_SEED``) and runs them through the masking pipeline with ``certify=True``. Reports: clean
accuracy of the bare engine and of the double-masking label, the certified fraction (all 36 × 36
two-mask predictions are "stop": PatchCleanser's certification condition), how often the second
round ran, and the latency of one frame (batch 1, onnxruntime CPU, 1 thread) of the bare engine vs
the masking engine's first round (one call) vs the full certified decision. Writes
``benchmarks/results/masking.json`` (one entry per patch size).

    python benchmarks/masking.py [N] [PATCH]
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import meta
import numpy as np

import edgeguard
from edgeguard.data.dataset import TEST_SEED
from edgeguard.data.render import render_scene

OUT = Path(__file__).parent / "results" / "masking.json"


def median_ms(fn, x: np.ndarray, runs: int) -> float:
    fn(x)  # warm-up
    t = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn(x)
        t.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(t))


def main(n: int = 100, patch: float = 0.25) -> dict:
    frames = np.stack([render_scene("stop", (TEST_SEED, 10_000 + i)) for i in range(n)])
    x = np.ascontiguousarray(frames.transpose(0, 3, 1, 2), dtype=np.float32) / np.float32(255)
    with tempfile.TemporaryDirectory() as d:
        bare = edgeguard.export("signs", out=Path(d) / "bare.onnx", parity_images=2)
        masked = edgeguard.export("signs", masking=f"patch={patch}", out=Path(d) / "m.onnx", parity_images=2)
        with edgeguard.load(bare.path, threads=1) as p_bare, edgeguard.load(masked.path, threads=1) as p_mask:
            stop = p_bare.labels.index("stop")
            bare_ok = [r.decision["top"][0]["index"] == stop for r in p_bare.run_batch(x)]
            t0 = time.perf_counter()
            res = [p_mask.run_batch(x[i : i + 1])[0] for i in range(n)]
            certify_ms = (time.perf_counter() - t0) * 1e3 / n
            one = x[:1]
            lat = {
                "bare_engine_ms": median_ms(p_bare.engine, one, 100),
                "masking_first_round_ms": median_ms(p_mask.engine, one, 30),
                "masking_certified_decision_ms_mean": certify_ms,
            }
    label_ok = [r.decision["masking"]["index"] == stop for r in res]
    cert_ok = [bool(r.certified) and r.decision["masking"]["index"] == stop for r in res]
    cases = [r.decision["masking"]["case"] for r in res]
    out = {
        "n": n,
        "patch": patch,
        "mask_set": masked.manifest.masking.to_dict(),
        "frames": f"render_scene('stop', (TEST_SEED={TEST_SEED}, 10000 + i)), 64x64",
        "clean_accuracy_bare": float(np.mean(bare_ok)),
        "clean_accuracy_double_masking": float(np.mean(label_ok)),
        "certified_fraction": float(np.mean(cert_ok)),
        "first_round_unanimous": float(np.mean([c == "agree" for c in cases])),
        "latency": lat,
        "latency_ratio_first_round": lat["masking_first_round_ms"] / lat["bare_engine_ms"],
        **meta.header("masking", [str(n), str(patch)]),  # machine, versions, command, date, load
        "threads": 1,
    }
    OUT.parent.mkdir(exist_ok=True)
    kept = json.loads(OUT.read_text()) if OUT.is_file() else {}
    kept = kept if "n" not in kept else {str(kept["patch"]): kept}  # the first layout: one patch
    out["load_average"]["end"] = meta.load_average()
    kept[str(patch)] = out  # one entry per patch size measured
    OUT.write_text(json.dumps(kept, indent=2) + "\n")
    return out


if __name__ == "__main__":
    args = sys.argv[1:]
    print(
        json.dumps(main(int(args[0]) if args else 100, float(args[1]) if len(args) > 1 else 0.25), indent=2)
    )
