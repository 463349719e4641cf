"""What fusing bits:5 + median:3x3 in front of ResNet-50 costs in onnxruntime (CPU), and how the
median alone compares with torch eager, scipy.ndimage, OpenCV and ART's SpatialSmoothing.

Writes ``benchmarks/results/defense_overhead.json``. Timings are interleaved (bare, defended, bare, …)
so both see the same machine state; report ratios, not absolute numbers.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"


def _median_ms(fn, runs: int) -> float:
    fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def engine_overhead(runs: int = 30, size: int = 224) -> dict:
    import onnxruntime as ort

    from edgeguard.exporter.onnx import export
    from edgeguard.samples import photo_batch

    x = photo_batch(1, (size, size))
    with tempfile.TemporaryDirectory() as d:
        bare = export("resnet50", input_size=size, out=Path(d) / "bare.onnx").path
        defended = export(
            "resnet50", defense=["bits:5", "median:3x3"], input_size=size, out=Path(d) / "def.onnx"
        ).path
        sess = {
            k: ort.InferenceSession(str(p), providers=["CPUExecutionProvider"])
            for k, p in (("bare", bare), ("defended", defended))
        }
        for s in sess.values():
            s.run(None, {"input": x})
        t: dict[str, list[float]] = {k: [] for k in sess}
        for _ in range(runs):
            for k, s in sess.items():
                t0 = time.perf_counter()
                s.run(None, {"input": x})
                t[k].append((time.perf_counter() - t0) * 1e3)
    med = {k: statistics.median(v) for k, v in t.items()}
    return {
        "model": "resnet50",
        "input": [1, 3, size, size],
        "runs_each": runs,
        "interleaved": True,
        "bare_ms_median": med["bare"],
        "defended_ms_median": med["defended"],
        "ratio": med["defended"] / med["bare"],
        "target_ratio": 1.05,
    }


def median_implementations(runs: int = 20, size: int = 224) -> dict:
    import cv2
    import scipy.ndimage as ndi
    import torch

    from edgeguard.defenses import median_smooth
    from edgeguard.samples import photo_batch

    x = photo_batch(1, (size, size))
    xt = torch.from_numpy(x)
    # One thread, like scipy: on 2 shared cores torch's intra-op threads spin against other work and
    # a 1x3x224x224 elementwise chain gains nothing from them (measured 2 ms vs 58 ms under load).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    hwc = np.ascontiguousarray((x[0].transpose(1, 2, 0) * 255).round().astype(np.uint8))
    out = {
        "edgeguard_torch_eager_ms": _median_ms(lambda: median_smooth(xt, (3, 3)), runs),
        "scipy_ndimage_ms": _median_ms(lambda: ndi.median_filter(x, size=(1, 1, 3, 3), mode="reflect"), runs),
        "opencv_medianBlur_uint8_ms": _median_ms(lambda: cv2.medianBlur(hwc, 3), runs),
    }
    try:
        from art.defences.preprocessor import SpatialSmoothing

        ss = SpatialSmoothing(window_size=3, channels_first=True, clip_values=(0.0, 1.0))
        out["art_spatial_smoothing_ms"] = _median_ms(lambda: ss(x), max(3, runs // 4))
    except ImportError:
        out["art_spatial_smoothing_ms"] = None
    torch.set_num_threads(threads)
    out["torch_threads"] = 1
    base = out["edgeguard_torch_eager_ms"]
    out["ratios_vs_edgeguard_eager"] = {
        k: (v / base if v else None) for k, v in out.items() if k.endswith("_ms")
    }
    return out


def main() -> dict:
    result = {"engine": engine_overhead(), "median_3x3": median_implementations()}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "defense_overhead.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    json.dump(main(), sys.stdout, indent=2)
    print()
