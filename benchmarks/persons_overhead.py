"""Letterbox + decode against engine time for the embedded ``persons`` detector → persons_overhead.json.

Issue 13's target: letterbox + decode add at most 10 % to the engine time of the embedded detector. The
``persons`` model is exported to ONNX (320×320, letterbox manifest) and opened with onnxruntime on one
thread; 640×480 BGR frames (rendered surveillance scenes, test seed) go through the three parts the
pipeline times, each timed alone as CPU time of the calling thread (the 2-core machine is shared, so
wall time would count waiting for a core): ``preprocess`` (letterbox to 320×320 with 114 padding, BGR →
RGB, HWC uint8 → CHW float), ``engine`` (onnxruntime), ``decision`` (threshold, NMS, boxes back to frame
pixels, result dicts). The pipeline's own wall-clock ``timing_ms`` medians are reported beside them.

    python benchmarks/persons_overhead.py [FRAMES]
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

import edgeguard  # noqa: E402
from edgeguard.data.scene_sets import PERSONS_TEST_SEED  # noqa: E402
from edgeguard.data.scenes import render_surveillance  # noqa: E402
from edgeguard.preprocess import preprocess  # noqa: E402

OUT = Path(__file__).parent / "results" / "persons_overhead.json"


def cpu_ms(fn, repeat: int = 5) -> float:
    """Median CPU time of the calling thread over ``repeat`` calls, in ms."""
    t = []
    for _ in range(repeat):
        c0 = time.thread_time()
        fn()
        t.append((time.thread_time() - c0) * 1e3)
    return statistics.median(t)


def main(frames: int = 40) -> dict:
    cv2.setNumThreads(1)
    load0 = list(os.getloadavg())
    with tempfile.TemporaryDirectory() as d:
        onnx = Path(d) / "persons.onnx"
        edgeguard.export("persons", out=onnx)
        pipe = edgeguard.load(onnx, threads=1)
        spec = pipe.manifest.input
        imgs = [
            cv2.cvtColor(render_surveillance((PERSONS_TEST_SEED, i), (480, 640)).image, cv2.COLOR_RGB2BGR)
            for i in range(frames)
        ]
        pipe([imgs[0]])  # warm-up
        parts: dict[str, list[float]] = {"preprocess": [], "engine": [], "decision": []}
        wall: dict[str, list[float]] = {}
        boxes = 0
        for img in imgs:
            geo: list = []

            def pre(img=img, geo=geo):
                geo.clear()
                return preprocess(
                    [img],
                    pipe.size,
                    color=pipe.color,
                    resize=spec.resize,
                    pad_value=spec.pad_value,
                    geometry=geo,
                )

            x = pre()
            outputs = pipe.engine(x)
            parts["preprocess"].append(cpu_ms(pre))
            parts["engine"].append(cpu_ms(lambda x=x: pipe.engine(x)))
            parts["decision"].append(cpu_ms(lambda o=outputs, g=geo: pipe.decide(o, pipe.manifest, g)))
            (res,) = pipe([img])
            boxes += len(res.decision["boxes"])
            for k, v in res.timing_ms.items():
                wall.setdefault(k, []).append(v)
    med = {k: round(statistics.median(v), 4) for k, v in parts.items()}
    overhead = med["preprocess"] + med["decision"]
    result = {
        "what": "persons detector (320x320 ONNX, onnxruntime 1 thread) on 640x480 BGR frames: CPU ms per "
        "frame "
        "of letterbox preprocess, engine and decision (median over frames of the median of 5 calls)",
        "target": "letterbox + decode <= 10 % of engine time",
        "frames": frames,
        "boxes_per_frame": round(boxes / frames, 2),
        "cpu_ms": med,
        "letterbox_plus_decode_ms": round(overhead, 4),
        "overhead_fraction_of_engine": round(overhead / med["engine"], 4),
        "pipeline_wall_ms_p50": {k: round(statistics.median(v), 4) for k, v in wall.items()},
        "loadavg_before": load0,
        "loadavg_after": list(os.getloadavg()),
        "cpu_count": os.cpu_count(),
        "numpy": np.__version__,
        "opencv": cv2.__version__,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    print(json.dumps(main(*[int(a) for a in sys.argv[1:2]]), indent=2))
