"""Detection defenses on the embedded ``persons`` detector: ObjectSeeker and the detection squeeze score.

1. **ObjectSeeker** (``export persons --masking lines=30``; :mod:`edgeguard.eval.seeker_eval`): on N clean
   held-out scenes, certified recall for far/close/over patches of 1 % and 0.25 % of the frame, AP@0.5
   and recall/precision bare vs ObjectSeeker, for τ_mask 0.8 (the paper's) and lower ones (this small
   detector rarely scores a person above 0.5), the engine time per frame (121 forwards) vs the bare one.
2. **Patch attack** (measurement only, not the shipped patch: helper ``patch``'s universal Thys patch
   lives in ``attacks/patch.py``): per scene, a square on the torso of its largest person (side 0.3 ×
   its height) optimised digitally for that frame, 60 signed-gradient steps minimising the best person
   score of the anchors inside the person's box on the bare detector; and a uniform-noise square of the
   same size as the control. Per condition: the attacked person detected at conf 0.25 by the bare
   detector, by ObjectSeeker (base ∪ recovered), and the frame flagged by the squeeze score.
3. **Squeeze score** (``export persons --detector squeeze:…``): τ at 5 % FPR on 300 clean validation
   scenes (the export's default), flag rate on M held-out clean test scenes and on the patched frames.

Writes ``benchmarks/results/seeker.json`` (with ``benchmarks/meta.py``'s provenance header).
``python benchmarks/seeker.py [N] [M] [P]``: N scenes for certification, M clean scenes for the flag
rate, P patched scenes.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import meta  # benchmarks/meta.py: machine, versions, command, date, load average (script folder)
import numpy as np
import torch

import edgeguard
from edgeguard.data.scene_sets import PERSONS_TEST_SEED, render_scene_set
from edgeguard.eval.ap import box_iou
from edgeguard.eval.seeker_eval import certify_detector
from edgeguard.models import build
from edgeguard.seeker import SeekerOptions, masked_rows, merge

SQUEEZE = "squeeze:bits=4,median=3x3"
CONF = 0.25


def torso_patches(data, n: int, seed: int = 0):
    """(frame index, person box, patch square x0 y0 side) for the largest counted person of each frame."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(len(data)):
        gt, ignore = data.targets(i)
        keep = ~ignore & ((gt[:, 3] - gt[:, 1]) >= 48)
        if not keep.any():
            continue
        g = gt[keep][np.argmax(gt[keep, 3] - gt[keep, 1])]
        h = g[3] - g[1]
        s = int(round(0.3 * h))
        cx, cy = (g[0] + g[2]) / 2 + rng.uniform(-0.05, 0.05) * h, g[1] + 0.4 * h
        out.append((i, g, (int(round(cx - s / 2)), int(round(cy - s / 2)), s)))
        if len(out) == n:
            break
    return out


def paste_masks(shape, squares) -> torch.Tensor:
    m = torch.zeros(len(squares), 1, *shape)
    for k, (x0, y0, s) in enumerate(squares):
        m[k, 0, max(y0, 0) : y0 + s, max(x0, 0) : x0 + s] = 1.0
    return m


def optimise_patches(net, x: torch.Tensor, boxes, squares, steps: int = 60) -> torch.Tensor:
    """Per-frame digital patch: minimise the best person score of the anchors inside the person box."""
    mask = paste_masks(x.shape[2:], squares)
    p = torch.rand_like(x)
    with torch.no_grad():
        _, _, pts, _ = net.raw(x[:1])
    inside = torch.stack(
        [(pts[:, 0] >= b[0]) & (pts[:, 0] <= b[2]) & (pts[:, 1] >= b[1]) & (pts[:, 1] <= b[3]) for b in boxes]
    ).float()  # (B, N)
    for _ in range(steps):
        p.requires_grad_(True)
        adv = x * (1 - mask) + p * mask
        score = net(adv)[:, 4]  # (B, N) person score
        loss = (score * inside - (1 - inside)).amax(dim=1).sum()
        (g,) = torch.autograd.grad(loss, p)
        p = (p.detach() - 0.03 * g.sign()).clamp(0, 1)
    return (x * (1 - mask) + p * mask).detach()


def detected(rows: np.ndarray, box: np.ndarray) -> bool:
    return bool(len(rows)) and bool((box_iou(box[None], rows[:, :4])[0] >= 0.5).any())


def main(n: int = 20, m: int = 100, p: int = 30) -> dict:
    torch.set_num_threads(1)
    t_start = time.time()
    res: dict = {**meta.header("seeker"), "threads": "onnxruntime and torch 1 thread"}
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        masked = edgeguard.export("persons", masking="lines=30", out=d / "m.onnx", parity_images=1)
        edgeguard.export("persons", out=d / "bare.onnx", parity_images=1)
        edgeguard.export("persons", detector=SQUEEZE, out=d / "sq.onnx", parity_images=1)
        res["weights_sha256"] = masked.manifest.provenance.source.sha256
        # 1. certification and clean AP, one engine pass shared by the sweep
        cache: dict = {}
        runs = []
        for masked_conf in (0.8, 0.5, 0.3):
            for patch in (0.1, 0.05):
                r = certify_detector(
                    d / "m.onnx", frames=n, patch=patch, bare_engine=d / "bare.onnx",
                    opts=SeekerOptions(masked_conf=masked_conf), cache=cache,
                )  # fmt: skip
                runs.append(r)
                print(masked_conf, patch, r["certified_recall"], r["clean"]["ap50_objectseeker"], flush=True)
        res["objectseeker"] = runs
        # 2 + 3. patched frames: bare, ObjectSeeker, squeeze flag
        pipe_m = edgeguard.load(d / "m.onnx", threads=1, decision={"conf": CONF})
        pipe_s = edgeguard.load(d / "sq.onnx", threads=1, decision={"conf": CONF})
        tau = pipe_s.manifest.detector.threshold
        clean = render_scene_set(m, seed=PERSONS_TEST_SEED + 100)
        xc = clean.images.transpose(0, 3, 1, 2).astype(np.float32) / 255.0
        clean_flags = [r.flagged for s in range(0, m, 16) for r in pipe_s.run_batch(xc[s : s + 16])]
        data = render_scene_set(3 * p, seed=PERSONS_TEST_SEED)
        picks = torso_patches(data, p)
        x = torch.from_numpy(data.images[[i for i, _, _ in picks]].transpose(0, 3, 1, 2).copy()).float() / 255
        boxes = [b for _, b, _ in picks]
        squares = [sqr for _, _, sqr in picks]
        net, _ = build("persons", None)
        net.eval()
        adv = optimise_patches(net, x, boxes, squares).numpy()
        mask = paste_masks(x.shape[2:], squares).numpy()
        rng = np.random.default_rng(1)
        noise = x.numpy() * (1 - mask) + rng.uniform(0, 1, x.shape).astype(np.float32) * mask
        conds = {"none": x.numpy(), "random": noise, "adversarial": adv}
        res["patched"] = {"frames": len(picks), "patch_side": "0.3 x person height, on the torso", "tau": tau}
        for name, xs in conds.items():
            bare_hit, flags = [], []
            seek_hit: dict[float, list[bool]] = {0.5: [], 0.3: []}
            for k in range(len(xs)):
                f = np.ascontiguousarray(xs[k : k + 1], dtype=np.float32)
                out = pipe_m.engine(f)
                rows = pipe_m.decide._raw(out["logits"][0], None)[0]
                bare_hit.append(detected(rows, boxes[k]))
                for tm, hits in seek_hit.items():
                    heads = masked_rows(out["masked_heads"][0], pipe_m.decide, None, (320, 320), tm)
                    rec = merge(rows, heads, SeekerOptions(masked_conf=tm))
                    hits.append(detected(np.concatenate([rows, rec]), boxes[k]))
                flags.append(pipe_s.run_batch(f)[0].flagged)
            res["patched"][name] = {
                "person_detected_bare": float(np.mean(bare_hit)),
                **{
                    f"person_detected_objectseeker_tau_mask_{tm}": float(np.mean(h))
                    for tm, h in seek_hit.items()
                },
                "squeeze_flagged": float(np.mean(flags)),
                "caught_bare_or_flag": float(np.mean(np.array(bare_hit) | np.array(flags))),
            }
            print(name, res["patched"][name], flush=True)
        res["squeeze"] = {
            "spec": SQUEEZE,
            "tau": tau,
            "fpr_target": pipe_s.manifest.detector.fpr,
            "calibration": pipe_s.manifest.detector.calibration.source,
            "clean_flagged": float(np.mean(clean_flags)),
            "clean_scenes": m,
        }
    res["wall_s"] = round(time.time() - t_start, 1)
    meta.write("seeker", res)
    return res


if __name__ == "__main__":
    main(*[int(a) for a in sys.argv[1:]])
