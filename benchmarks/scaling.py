"""How cost grows with input size and batch: fused defenses, the squeeze detector, masking, TVM.

On the shipped sign network (a compact ResNet that takes any H, W ≥ 16 and ends in global pooling),
exported by ``edgeguard.export`` per input size (fixed H, W, dynamic batch), one onnxruntime thread:

* ``bare`` — the network alone;
* ``fused`` — with ``bits:5 + median:3x3`` fused in the graph;
* ``detector`` — ``fused`` + ``squeeze:bits=4,median=2x2`` (3 views in one batched call);
* ``masking`` — ``fused`` + ``--masking patch=0.25`` first round (frame + 36 one-masked copies);
* ``tvm`` — the ``tvm:keep=0.1,lam=0.03,iters=100`` host stage (torch, one thread) alone.

Sweeps: size 64…512 at batch 1, batch 1…32 at 64². At each point every variant runs interleaved
(:func:`meta.paired`), so the ratios to ``bare`` at a point are side by side. Writes
``benchmarks/results/scaling.json`` and ``scaling.png`` (matplotlib, log-log, median ms per call).
``python benchmarks/scaling.py [--runs N]`` (``--replot`` redraws the PNG from the JSON)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import cv2
import meta
import numpy as np

SIZES = (64, 128, 224, 320, 512)
BATCHES = (1, 2, 4, 8, 16, 32)
DEFENSES = ["bits:5", "median:3x3"]
DETECTOR = "squeeze:bits=4,median=2x2"
MASKING = "patch=0.25"
TVM = "tvm:keep=0.1,lam=0.03,iters=100"
VARIANTS = ("bare", "fused", "detector", "masking", "tvm")


def engines(size: int, tmp: Path, calib: Path) -> dict[str, Any]:
    from edgeguard.exporter.onnx import export

    kw: dict[str, Any] = dict(input_size=size, parity_images=1)
    paths = {
        "bare": export("signs", out=tmp / f"bare{size}.onnx", **kw).path,
        "fused": export("signs", defense=DEFENSES, out=tmp / f"fused{size}.onnx", **kw).path,
        "detector": export(
            "signs",
            defense=DEFENSES,
            detector=DETECTOR,
            detector_calib=calib,
            out=tmp / f"det{size}.onnx",
            **kw,
        ).path,
        "masking": export(
            "signs", defense=DEFENSES, masking=MASKING, out=tmp / f"mask{size}.onnx", **kw
        ).path,
    }
    return {k: meta.session(p, 1) for k, p in paths.items()}


def point(sess: dict[str, Any], tvm: Any, x: np.ndarray, runs: int) -> dict[str, Any]:
    import torch

    xt = torch.from_numpy(x)
    fns = {k: (lambda s=s: s.run(None, {"input": x})) for k, s in sess.items()}
    fns["tvm"] = lambda: tvm(xt)
    return meta.paired(fns, runs=runs, warmup=1)


def plot(doc: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, xlabel in (
        (axes[0], "by_size", "input side (px), batch 1"),
        (axes[1], "by_batch", "batch, 64×64"),
    ):
        pts = doc[key]
        xs = [p["size"] if key == "by_size" else p["batch"] for p in pts]
        for v in VARIANTS:
            ax.plot(xs, [p["ms"][v]["p50"] for p in pts], marker="o", label=v)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(xs, [str(v) for v in xs])
        ax.set_xlabel(xlabel)
        ax.set_ylabel("median CPU ms per call")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("sign network (onnxruntime CPU, 1 thread) with fused defenses, detector, masking; TVM stage")
    fig.tight_layout()
    tmp = out.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=80)
    plt.close(fig)
    tmp.replace(out)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--runs", type=int, default=12, help="interleaved runs at the smallest point (default 12)"
    )
    ap.add_argument("--replot", action="store_true", help="only redraw scaling.png from scaling.json")
    args = ap.parse_args(argv)
    if args.replot:
        doc = json.loads((meta.RESULTS / "scaling.json").read_text())
        plot(doc, meta.RESULTS / "scaling.png")
        return doc

    import torch

    from edgeguard import stages
    from edgeguard.samples import photo_batch

    torch.set_num_threads(1)
    doc = meta.header("scaling", argv)
    doc.update({"model": "signs", "defenses": DEFENSES, "detector": DETECTOR, "masking": MASKING, "tvm": TVM})
    tvm = stages.from_spec(TVM)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        calib = tmp / "calib"
        calib.mkdir()
        for i, img in enumerate(photo_batch(8, (64, 64))):
            cv2.imwrite(
                str(calib / f"{i}.png"), np.rint(img.transpose(1, 2, 0)[..., ::-1] * 255).astype(np.uint8)
            )
        doc["by_size"], doc["by_batch"] = [], []
        for size in SIZES:
            sess = engines(size, tmp, calib)
            runs = max(3, int(args.runs * (64 / size) ** 1.5))
            doc["by_size"].append(
                {"size": size, "batch": 1, **point(sess, tvm, photo_batch(1, (size, size)), runs)}
            )
            if size == 64:
                for b in BATCHES[1:]:
                    r = point(sess, tvm, photo_batch(b, (64, 64)), max(3, args.runs // max(1, b // 4)))
                    doc["by_batch"].append({"size": 64, "batch": b, **r})
                doc["by_batch"].insert(0, doc["by_size"][0])
            print(f"[scaling] {size}² done", file=sys.stderr, flush=True)
    plot(doc, meta.RESULTS / "scaling.png")
    doc["plot"] = "benchmarks/results/scaling.png"
    meta.write("scaling", doc)
    return doc


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
