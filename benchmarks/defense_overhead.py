"""What fusing ``bits:5 + median:3x3`` in front of a network costs in onnxruntime (CPU), side by side.

Every comparison is one interleaved run (:func:`meta.paired`: the engines take turns call by call, one
onnxruntime thread each, timed in CPU time) and reports the median run-for-run ratio with its paired
bootstrap interval; absolute milliseconds are the shared machine's of the moment, the ratios are the
result. (Two threads are not measured: on a 2-core machine shared with training jobs they would
measure the other jobs.)

* ``resnet50`` — ResNet-50 at 224², fused defenses vs bare (target ≤ 1.05×);
* ``signs`` — the 64² sign model, fused vs bare, at batch 1 and 32: the network is so small that
  the median's memory-bound passes are a visible share of it;
* ``median_graphs`` — the 3×3 median alone in three exact ONNX forms, each checked bit for bit
  against ``scipy.ndimage.median_filter(mode="reflect")``: ``minmax`` (edgeguard's earlier graph:
  a Pad per axis, 18 elementwise Min/Max on shifted slices, each column sorted once and shared by
  three windows), ``edgeguard`` (today's :func:`~edgeguard.defenses.median_smooth`: one Pad, the
  row max/min of three as 1×3 ``MaxPool``) and ``all_pools`` (the column max/min as 3×1 pools too);
* ``median_3x3`` — the median in edgeguard's torch eager form vs scipy.ndimage, OpenCV
  ``medianBlur`` (uint8, another border rule) and ART ``SpatialSmoothing``, one thread, one image.

Writes ``benchmarks/results/defense_overhead.json``.
``python benchmarks/defense_overhead.py [--runs N]`` (default 40 per engine and configuration).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import meta
import numpy as np

DEFENSES = ["bits:5", "median:3x3"]


def fused_vs_bare(
    model: str, size: int, batches: list[int], threads: list[int], runs: int, tmp: Path
) -> dict:
    from edgeguard.exporter.onnx import export
    from edgeguard.samples import photo_batch

    bare = export(model, input_size=size, out=tmp / f"{model}-bare.onnx", parity_images=1).path
    fused = export(
        model, defense=DEFENSES, input_size=size, out=tmp / f"{model}-def.onnx", parity_images=1
    ).path
    rows = []
    for t in threads:
        sb, sf = meta.session(bare, t), meta.session(fused, t)
        for b in batches:
            x = photo_batch(b, (size, size))
            r = meta.paired(
                {
                    "bare": lambda sb=sb, x=x: sb.run(None, {"input": x}),
                    "fused": lambda sf=sf, x=x: sf.run(None, {"input": x}),
                },
                runs=max(30, runs // max(1, b // 4)),
            )
            rows.append({"batch": b, "threads": t, **r})
    return {"model": model, "size": size, "defenses": DEFENSES, "rows": rows}


def median_graphs(runs: int, tmp: Path) -> dict[str, Any]:
    """Exact ONNX forms of the 3×3 median, the prefix alone: which one onnxruntime runs fastest."""
    import scipy.ndimage as ndi
    import torch
    import torch.nn.functional as F
    from torch import nn

    from edgeguard.defenses._pad import _pad_axis
    from edgeguard.defenses.median import _med3, _shifts, median_smooth
    from edgeguard.samples import photo_batch

    def column_sort(xp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        a, b, c = _shifts(xp, 3, dim=-2)
        lo1, hi1 = torch.minimum(a, b), torch.maximum(a, b)
        hi, t = torch.maximum(hi1, c), torch.minimum(hi1, c)
        return torch.minimum(lo1, t), torch.maximum(lo1, t), hi

    def minmax(x: torch.Tensor) -> torch.Tensor:
        """edgeguard's form before: one Pad per axis, 18 Min/Max on shifted slices."""
        lo, mid, hi = column_sort(_pad_axis(_pad_axis(x, 1, 1, dim=-2), 1, 1, dim=-1))
        l0, l1, l2 = _shifts(lo, 3, dim=-1)
        h0, h1, h2 = _shifts(hi, 3, dim=-1)
        max_lo = torch.maximum(torch.maximum(l0, l1), l2)
        min_hi = torch.minimum(torch.minimum(h0, h1), h2)
        return _med3(max_lo, _med3(*_shifts(mid, 3, dim=-1)), min_hi)

    def all_pools(x: torch.Tensor) -> torch.Tensor:
        """Every max/min of three as a MaxPool, the column ones (3×1) too."""
        xp = F.pad(x, [1, 1, 1, 1], mode="replicate")
        hi = F.max_pool2d(xp, (3, 1), stride=1)
        lo = -F.max_pool2d(-xp, (3, 1), stride=1)
        mid = _med3(*_shifts(xp, 3, dim=-2))
        max_lo = F.max_pool2d(lo, (1, 3), stride=1)
        min_hi = -F.max_pool2d(-hi, (1, 3), stride=1)
        return _med3(max_lo, _med3(*_shifts(mid, 3, dim=-1)), min_hi)

    class Wrap(nn.Module):
        def __init__(self, fn) -> None:
            super().__init__()
            self.fn = fn

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fn(x)

    forms = {"minmax": minmax, "edgeguard": lambda x: median_smooth(x, (3, 3)), "all_pools": all_pools}
    ref_in = photo_batch(2, (224, 224))
    ref = ndi.median_filter(ref_in, size=(1, 1, 3, 3), mode="reflect")
    exact = {n: bool(np.array_equal(f(torch.from_numpy(ref_in)).numpy(), ref)) for n, f in forms.items()}
    rows = []
    for b, size in ((1, 64), (32, 64), (1, 224)):
        sess = {}
        for n, fn in forms.items():
            p = tmp / f"median-{n}-{b}-{size}.onnx"
            torch.onnx.export(
                Wrap(fn), torch.rand(b, 3, size, size), str(p), input_names=["input"],
                output_names=["out"], opset_version=17, dynamo=False,
            )  # fmt: skip
            sess[n] = meta.session(p, 1)
        x = photo_batch(b, (size, size))
        want = ndi.median_filter(x, size=(1, 1, 3, 3), mode="reflect")
        same = {n: bool(np.array_equal(s.run(None, {"input": x})[0], want)) for n, s in sess.items()}
        fns = {n: (lambda s=s, x=x: s.run(None, {"input": x})) for n, s in sess.items()}
        r = meta.paired(fns, runs=max(30, runs * 10 // b))
        rows.append({"batch": b, "size": size, "onnx_exact": same, **r})
    return {"torch_exact_vs_scipy": exact, "threads": 1, "forms": list(forms), "rows": rows}


def median_implementations(runs: int = 20, size: int = 224) -> dict[str, Any]:
    import cv2
    import scipy.ndimage as ndi
    import torch

    from edgeguard.defenses import median_smooth
    from edgeguard.samples import photo_batch

    x = photo_batch(1, (size, size))
    xt = torch.from_numpy(x)
    # One thread, like scipy: on 2 shared cores torch's intra-op threads spin against other work.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    hwc = np.ascontiguousarray((x[0].transpose(1, 2, 0) * 255).round().astype(np.uint8))
    fns = {
        "edgeguard_torch_eager": lambda: median_smooth(xt, (3, 3)),
        "scipy_ndimage": lambda: ndi.median_filter(x, size=(1, 1, 3, 3), mode="reflect"),
        "opencv_medianBlur_uint8": lambda: cv2.medianBlur(hwc, 3),
    }
    try:
        from art.defences.preprocessor import SpatialSmoothing

        ss = SpatialSmoothing(window_size=3, channels_first=True, clip_values=(0.0, 1.0))
        fns["art_spatial_smoothing"] = lambda: ss(x)
    except ImportError:
        pass
    out = meta.paired(fns, runs=runs)
    torch.set_num_threads(threads)
    return {"size": size, "threads": 1, **out}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=40, help="interleaved runs per engine (default 40)")
    args = ap.parse_args(sys.argv[1:] if argv is None else argv)
    doc = meta.header("defense_overhead", sys.argv[1:] if argv is None else argv)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        doc["resnet50"] = fused_vs_bare("resnet50", 224, [1], [1], args.runs, tmp)
        doc["resnet50"]["target_ratio"] = 1.05
        doc["signs"] = fused_vs_bare("signs", 64, [1, 32], [1], args.runs * 10, tmp)
        doc["median_graphs"] = median_graphs(args.runs, tmp)
    doc["median_3x3"] = median_implementations(max(10, args.runs // 2))
    meta.write("defense_overhead", doc)
    return doc


if __name__ == "__main__":
    import json

    print(json.dumps(main(), indent=2))
