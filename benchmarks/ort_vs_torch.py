"""The same pipeline with its engine in onnxruntime vs in torch eager: the price of not exporting.

For the sign model (64²) and ResNet-50 (224², random weights), both with ``bits:5 + median:3x3``:
the exported ONNX graph in onnxruntime (CPU, one thread) against the very module it was traced from
(:class:`edgeguard.exporter.wrap.DefendedModel`, torch eager, one thread, no grad). Two interleaved
comparisons (:func:`meta.paired`): the engines alone on the same batch, and the whole
:class:`edgeguard.pipeline.Pipeline` around each (same 640×480 frames, preprocessing, decision and
manifest) — what ``edgeguard bench --compare`` runs, timed in CPU time.

Writes ``benchmarks/results/ort_vs_torch.json``. ``python benchmarks/ort_vs_torch.py [--iters N]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import meta

DEFENSES = ["bits:5", "median:3x3"]


def one(model: str, size: int, batches: list[int], iters: int, tmp: Path) -> dict[str, Any]:
    import numpy as np
    import torch

    import edgeguard
    from edgeguard import defenses, models
    from edgeguard.engines.torch import TorchEngine
    from edgeguard.eval.bench import frames
    from edgeguard.exporter.graph import parse_normalize
    from edgeguard.exporter.onnx import export
    from edgeguard.exporter.wrap import DefendedModel, Normalize
    from edgeguard.pipeline import Pipeline
    from edgeguard.samples import photo_batch

    torch.set_num_threads(1)
    torch.manual_seed(0)
    path = export(model, defense=DEFENSES, input_size=size, out=tmp / f"{model}.onnx", parity_images=1).path
    torch.manual_seed(0)  # the same random init export used (seed 0), for ResNet-50
    net, info = models.build(model, None)
    norm = parse_normalize(None, (info.mean, info.std))
    module = DefendedModel(net, [defenses.from_spec(s) for s in DEFENSES], Normalize(*norm) if norm else None)
    ort_pipe = edgeguard.load(path, threads=1)
    eng = TorchEngine(module.eval())
    eng.manifest = ort_pipe.engine.manifest
    torch_pipe = Pipeline(eng)
    rows = []
    for b in batches:
        x = photo_batch(b, (size, size))
        feed = {"input": x}
        want = ort_pipe.engine(feed)["logits"]
        got = eng(feed)["logits"]
        n = max(10, iters // b)
        engines = meta.paired(
            {"onnxruntime": lambda f=feed: ort_pipe.engine(f), "torch": lambda f=feed: eng(f)}, n
        )
        imgs = frames()[:b]  # b ≤ 8 camera-like 640×480 BGR frames
        pipes = meta.paired(
            {"onnxruntime": lambda i=imgs: ort_pipe(i), "torch": lambda i=imgs: torch_pipe(i)}, n
        )
        rel = float(np.abs(got - want).max() / np.abs(want).max())
        rows.append({"batch": b, "engine": engines, "pipeline": pipes, "max_rel_logits": rel})
    return {"model": model, "size": size, "defenses": DEFENSES, "rows": rows}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iters", type=int, default=200, help="interleaved runs at batch 1 (default 200)")
    args = ap.parse_args(argv)
    doc = meta.header("ort_vs_torch", argv)
    with tempfile.TemporaryDirectory() as d:
        doc["models"] = [
            one("signs", 64, [1, 8], args.iters, Path(d)),
            one("resnet50", 224, [1], max(10, args.iters // 10), Path(d)),
        ]
    doc["threads"] = {"onnxruntime": 1, "torch": 1}
    meta.write("ort_vs_torch", doc)
    return doc


if __name__ == "__main__":
    import json

    print(json.dumps(main(), indent=2))
