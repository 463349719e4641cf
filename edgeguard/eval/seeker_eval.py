"""``edgeguard eval --certify`` for a detector: ObjectSeeker's certified recall, clean AP and cost per frame.

On rendered surveillance scenes (the ``persons`` test seed, the README's held-out difficulty), each
frame goes through the masked engine ONCE (the frame and its ``4k`` split-masked copies in one batched
call); from that single call come

* the bare detector's boxes (the frame's own head) and ObjectSeeker's (base ∪ recovered,
  :mod:`edgeguard.seeker`): AP@0.5 (base boxes down to ``conf`` 0.001, recovered boxes with their
  masked scores) and recall/precision at the decision threshold, for both;
* the certificate of every counted person (not ``ignore``: heavily occluded or too small) for one square
  patch of side ``patch`` × √(H·W) (:mod:`edgeguard.eval.seeker`): certified recall for far, close
  and over patches;
* the time of the masked call and of the host merge; the bare engine's own time when it is known
  (a model name: the bare engine is exported beside the masked one).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..outputs import OutputGroup
from ..seeker import DEFAULT_LINES, SeekerOptions, masked_rows, merge, options_of, split_set_of
from .seeker import DEFAULT_IOA, DEFAULT_OFFSET, certify_objects, patch_pixels, recovering

DEFAULT_FRAMES = 20  # ~120 masked forwards a frame: a few frames already take minutes on a small CPU
DEFAULT_PATCH = 0.1  # side fraction of √(H·W): 1 % of the frame, the paper's default patch
AP_CONF = 0.001


def is_detection_model(model: str) -> bool:
    """A detector name (``persons``) or an ``.onnx`` engine whose manifest says ``detection``."""
    from ..exporter.detector import PERSON_MODELS

    if model in PERSON_MODELS:
        return True
    if not str(model).endswith(".onnx") or not Path(model).is_file():
        return False
    from ..pipeline import load

    try:
        return load(model, threads=1).manifest.task == "detection"
    except Exception:  # not readable as an engine: the classifier path reports why
        return False


def engines(model: str, work: Path, masking: str | None = None) -> tuple[Path, Path | None]:
    """The masked engine (and the bare one when exported here) for ``model``; ``masking`` is the
    export's ``--masking`` text for a model name (default ``lines=30``).

    Raises:
        ConfigError: an ``.onnx`` detector exported without ``--masking lines=…``, or ``masking``
            given with an engine (its geometry was fixed at export).
    """
    if str(model).endswith(".onnx"):
        if masking is not None:
            raise ConfigError(
                "--masking: the engine's masked copies were fixed at export; drop --masking or pass "
                "the model name (persons)"
            )
        from ..pipeline import load

        if split_set_of(load(model, threads=1).manifest) is None:
            raise ConfigError(
                f"--certify: engine {Path(model).name!r} has no masked copies; export it with "
                f"`edgeguard export MODEL --masking lines={DEFAULT_LINES}` (ObjectSeeker)"
            )
        return Path(model), None
    from ..exporter.onnx import export

    work.mkdir(parents=True, exist_ok=True)
    masking = masking or f"lines={DEFAULT_LINES}"
    masked, bare = work / f"{model}-seeker.onnx", work / f"{model}.onnx"
    export(model, masking=masking, out=masked, parity_images=1)
    if not bare.exists():
        export(model, out=bare, parity_images=1)
    return masked, bare


def certify_detector(
    masked_engine: Path,
    *,
    frames: int = DEFAULT_FRAMES,
    patch: float = DEFAULT_PATCH,
    bare_engine: Path | None = None,
    seed: int | None = None,
    conf: float = 0.25,
    opts: SeekerOptions | None = None,
    ioa: float = DEFAULT_IOA,
    threads: int = 1,
    cache: dict[int, dict[str, np.ndarray]] | None = None,
) -> dict[str, Any]:
    """Certified recall, AP bare vs ObjectSeeker and cost per frame (the ``results.json`` mapping).

    ``cache``: engine outputs per frame index, filled and reused (a sweep over ``opts``, ``patch`` or
    ``ioa`` then runs the engine once; the engine time is that of the first run).
    """
    from ..data.scene_sets import PERSONS_TEST_SEED, render_scene_set
    from ..pipeline import load
    from .ap import average_precision

    seed = PERSONS_TEST_SEED if seed is None else seed
    pipe = load(masked_engine, threads=threads, decision={"conf": AP_CONF})
    m = pipe.manifest
    splits = split_set_of(m)
    if splits is None:
        raise ConfigError(f"--certify: {masked_engine.name} has no ObjectSeeker masked copies")
    opts = options_of(m) if opts is None else opts
    h, w = m.input.size
    if h != w:
        raise ConfigError(f"--certify: the scene renderer draws square frames; the engine takes {h}x{w}")
    data = render_scene_set(frames, seed=seed, size=h)
    x = np.ascontiguousarray(data.images.transpose(0, 3, 1, 2), dtype=np.float32) / np.float32(255.0)
    if m.input.color == "BGR":
        x = np.ascontiguousarray(x[:, ::-1])
    decide = pipe.decide
    head_name = decide.output_name(m, list(m.outputs))
    s = patch_pixels(patch, (h, w))
    bare_ap, seek_ap, bare_op, seek_op, gts = [], [], [], [], []
    certs, engine_ms, merge_ms = [], [], []
    if cache is None or len(cache) < len(x):
        pipe.engine(x[:1])  # onnxruntime's first call allocates: not part of the cost
    for i in range(len(x)):
        if cache is not None and i in cache:
            out = cache[i]
        else:
            t0 = time.perf_counter()
            out = dict(pipe.engine(x[i : i + 1]))
            out["_ms"] = np.float64((time.perf_counter() - t0) * 1e3)
            if cache is not None:
                cache[i] = out
        engine_ms.append(float(out["_ms"]))
        t1 = time.perf_counter()
        rows = decide._raw(np.asarray(out[head_name][0]), None)[0]
        base = rows[rows[:, 4] > conf]
        masked = masked_rows(np.asarray(out[m.seeker.output][0]), decide, None, (h, w), opts.masked_conf)
        rec = merge(base, masked, opts)
        merge_ms.append((time.perf_counter() - t1) * 1e3)
        gt, ignore = data.targets(i)
        gts.append((gt, ignore))
        bare_ap.append((rows[:, :4], rows[:, 4]))
        seek_ap.append((np.concatenate([rows[:, :4], rec[:, :4]]), np.concatenate([rows[:, 4], rec[:, 4]])))
        bare_op.append((base[:, :4], base[:, 4]))
        seek_op.append((np.concatenate([base[:, :4], rec[:, :4]]), np.concatenate([base[:, 4], rec[:, 4]])))
        counted = gt[~ignore]
        flags = recovering(masked, counted, np.zeros(len(counted)), prune=opts.prune, ioa=ioa)
        certs += certify_objects(flags, counted, splits, s)
    n_obj = len(certs)
    recall = {
        k: (sum(getattr(c, k) for c in certs) / n_obj if n_obj else None) for k in ("far", "close", "over")
    }
    ap_b, ap_s = average_precision(bare_ap, gts), average_precision(seek_ap, gts)
    op_b, op_s = average_precision(bare_op, gts), average_precision(seek_op, gts)
    result: dict[str, Any] = {
        "engine": masked_engine.name,
        "defense": "objectseeker",
        "source": "Xiang et al., ObjectSeeker, IEEE S&P'23 (patch-agnostic masking, IoA certificate)",
        "data": f"rendered surveillance scenes, seed {seed}, {h}x{w}",
        "frames": len(x),
        "objects": n_obj,
        "lines": splits.lines,
        "copies": splits.count,
        "forwards_per_frame": splits.count + 1,
        "patch": patch,
        "patch_px": s,
        "patch_area": round(s * s / (h * w), 6),
        "ioa": ioa,
        "offset": DEFAULT_OFFSET,
        "options": asdict(opts),
        "conf": conf,
        "certified_recall": recall,
        "clean": {
            "ap50_bare": ap_b.ap,
            "ap50_objectseeker": ap_s.ap,
            "recall_bare": op_b.recall,
            "recall_objectseeker": op_s.recall,
            "precision_bare": op_b.precision,
            "precision_objectseeker": op_s.precision,
            "people": ap_b.n_gt,
        },
        "ms_per_frame": {
            "masked_engine_p50": float(np.median(engine_ms)),
            "host_merge_p50": float(np.median(merge_ms)),
        },
    }
    if bare_engine is not None:
        bare = load(bare_engine, threads=threads)
        bare.engine(x[:1])
        t = []
        for i in range(len(x)):
            t0 = time.perf_counter()
            bare.engine(x[i : i + 1])
            t.append((time.perf_counter() - t0) * 1e3)
        result["ms_per_frame"]["bare_engine_p50"] = float(np.median(t))
    return result


def report(res: dict[str, Any]) -> str:
    """``report.md``: the same numbers as ``results.json``."""
    r, c, ms = res["certified_recall"], res["clean"], res["ms_per_frame"]

    def pct(v: float | None) -> str:
        return "—" if v is None else f"{100 * v:.1f} %"

    lines = [
        "# Certified masking for detection (ObjectSeeker)",
        "",
        f"Engine `{res['engine']}`: {res['lines']} split lines per axis, {res['copies']} masked copies "
        f"({res['forwards_per_frame']} forwards a frame, one engine call). {res['data']}, "
        f"{res['frames']} frames, {res['objects']} counted people.",
        "",
        f"Patch: one square of {res['patch_px']} px ({100 * res['patch_area']:.2g} % of the frame); "
        f"certified: ObjectSeeker's output holds a box with IoA > {res['ioa']} with the person for "
        f"every location of the patch.",
        "",
        "| patch location | certified recall |",
        "|---|---|",
        f"| far (≥ {res['offset']:.0%} of the frame from the person) | {pct(r['far'])} |",
        f"| close (near, not on the person) | {pct(r['close'])} |",
        f"| over (on the person) | {pct(r['over'])} |",
        "",
        "| clean | bare detector | ObjectSeeker |",
        "|---|---|---|",
        f"| AP@0.5 | {c['ap50_bare']:.3f} | {c['ap50_objectseeker']:.3f} |",
        f"| recall at conf {res['conf']} | {pct(c['recall_bare'])} | {pct(c['recall_objectseeker'])} |",
        f"| precision at conf {res['conf']} | {pct(c['precision_bare'])} | "
        f"{pct(c['precision_objectseeker'])} |",
        "",
        f"Cost per frame (p50): masked engine {ms['masked_engine_p50']:.1f} ms + host merge "
        f"{ms['host_merge_p50']:.1f} ms"
        + (f"; the bare engine {ms['bare_engine_p50']:.1f} ms." if "bare_engine_p50" in ms else "."),
        "",
    ]
    return "\n".join(lines)


def write(res: dict[str, Any], out: Path) -> tuple[Path, Path]:
    """``OUT/results.json`` and ``OUT/report.md`` (temp names, renamed together)."""
    paths = (out / "results.json", out / "report.md")
    with OutputGroup(list(paths), what="--out", make_parents=True) as group:
        group.write_text(paths[0], json.dumps(res, indent=1) + "\n")
        group.write_text(paths[1], report(res))
    return paths


__all__ = ["certify_detector", "engines", "is_detection_model", "report", "write"]
