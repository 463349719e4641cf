"""What certified masking's first round costs per patch size: the masking engine vs the bare one.

``export signs --masking patch=P`` evaluates the frame and its one-masked copies (PatchCleanser's
R-covering set, 6 × 6 = 36 masks by default, whatever the patch) as one batched call, i.e. 37 runs
of the network; the second round and the certificate run on the host only when needed (their cost
per frame, and the certified fraction, are in ``masking.json``). One frame (batch 1) of rendered
stop signs, one onnxruntime thread, interleaved (:func:`meta.paired`).

Writes ``benchmarks/results/masking_cost.json``. ``python benchmarks/masking_cost.py [--runs N]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import meta
import numpy as np

PATCHES = (0.05, 0.1, 0.25, 0.33)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=40, help="interleaved runs per patch size (default 40)")
    args = ap.parse_args(argv)

    import edgeguard
    from edgeguard.data.dataset import TEST_SEED
    from edgeguard.data.render import render_scene

    doc = meta.header("masking_cost", argv)
    x = render_scene("stop", (TEST_SEED, 10_000))[None].transpose(0, 3, 1, 2).astype(np.float32) / 255
    rows = []
    with tempfile.TemporaryDirectory() as d:
        bare = meta.session(edgeguard.export("signs", out=Path(d) / "bare.onnx", parity_images=1).path, 1)
        for p in PATCHES:
            res = edgeguard.export("signs", masking=f"patch={p}", out=Path(d) / f"m{p}.onnx", parity_images=1)
            sm = meta.session(res.path, 1)
            r = meta.paired(
                {
                    "bare": lambda: bare.run(None, {"input": x}),
                    "first_round": lambda s=sm: s.run(None, {"input": x}),
                },
                runs=args.runs,
            )
            ms_ = res.manifest.masking
            rows.append(
                {"patch": p, "patch_px": ms_.patch_px, "mask_px": ms_.mask_px, "masks": ms_.count, **r}
            )
    doc.update({"model": "signs", "size": 64, "batch": 1, "threads": 1, "rows": rows})
    meta.write("masking_cost", doc)
    return doc


if __name__ == "__main__":
    import json

    print(json.dumps(main(), indent=2))
