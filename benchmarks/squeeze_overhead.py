"""What the fused feature-squeezing detector costs: the detector engine vs the same engine without it.

``--detector squeeze:bits=4,median=2x2`` runs the model on the raw input and on each squeezed view in
one batched call inside the graph (3 views), so the ideal cost is about 3× the network; the target is
≤ 3× for ResNet-50 at 224². Both engines carry the fused ``bits:5 + median:3x3`` defenses (the demo
configuration), so the ratio is the detector's alone. ResNet-50 is calibrated on 8 sample photos
(τ does not change the cost); the 64² sign model on its rendered validation set. Batch 1 and 8, one
onnxruntime thread, interleaved (:func:`meta.paired`).

Writes ``benchmarks/results/squeeze_overhead.json``. ``python benchmarks/squeeze_overhead.py [--runs N]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import cv2
import meta
import numpy as np

DEFENSES = ["bits:5", "median:3x3"]
DETECTOR = "squeeze:bits=4,median=2x2"


def one(model: str, size: int, batches: list[int], runs: int, tmp: Path) -> dict[str, Any]:
    from edgeguard.exporter.onnx import export
    from edgeguard.samples import photo_batch

    calib = None
    if model not in ("signs",):
        calib = tmp / "calib"
        calib.mkdir(exist_ok=True)
        for i, img in enumerate(photo_batch(8, (size, size))):
            cv2.imwrite(
                str(calib / f"{i}.png"), np.rint(img.transpose(1, 2, 0)[..., ::-1] * 255).astype(np.uint8)
            )
    kw = dict(defense=DEFENSES, input_size=size, parity_images=1)
    bare = export(model, out=tmp / f"{model}-bare.onnx", **kw).path
    det = export(model, out=tmp / f"{model}-det.onnx", detector=DETECTOR, detector_calib=calib, **kw).path
    sb, sd = meta.session(bare, 1), meta.session(det, 1)
    rows = []
    for b in batches:
        x = photo_batch(b, (size, size))
        r = meta.paired(
            {
                "bare": lambda x=x: sb.run(None, {"input": x}),
                "detector": lambda x=x: sd.run(None, {"input": x}),
            },
            runs=max(8, runs // b),
        )
        rows.append({"batch": b, "threads": 1, **r})
    return {
        "model": model,
        "size": size,
        "defenses": DEFENSES,
        "detector": DETECTOR,
        "views": 3,
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=40, help="interleaved runs at batch 1 (default 40)")
    args = ap.parse_args(argv)
    doc = meta.header("squeeze_overhead", argv)
    with tempfile.TemporaryDirectory() as d:
        doc["models"] = [
            {**one("resnet50", 224, [1], args.runs // 2, Path(d)), "target_ratio": 3.0},
            one("signs", 64, [1, 8], args.runs * 10, Path(d)),
        ]
    meta.write("squeeze_overhead", doc)
    return doc


if __name__ == "__main__":
    import json

    print(json.dumps(main(), indent=2))
