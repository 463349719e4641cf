"""Feature-squeezing detector vs naive and detector-aware PGD on the demo configuration.

The shipped sign model behind bits:5 → median:3x3 with the demo's ``squeeze:bits=4,median=2x2``
(rounding straight-through in the backward pass). τ at FPR 0.05 on rendered validation images
(``VAL_SEED``); attacks on correctly classified held-out images (``TEST_SEED``). Reports clean FPR,
and for naive PGD (ignores the detector) and ``pgd-detector`` (He et al. WOOT'17): accuracy, flagged
rate at τ, fooled-and-unflagged rate, AUC. Writes ``benchmarks/results/detector.json``.

    python benchmarks/detector.py [N_ATTACK] [STEPS]
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch
from torch import nn

from edgeguard import attacks, models
from edgeguard.data.dataset import TEST_SEED, VAL_SEED, SignDataset
from edgeguard.defenses.squeeze import SqueezeDetector, from_spec, threshold_at_fpr
from edgeguard.eval.attackable import defense_modules
from edgeguard.eval.detection import auc, detection_rate
from edgeguard.exporter.wrap import DefendedModel, Normalize

OUT = Path(__file__).parent / "results" / "detector.json"
DEFENSES = ["bits:5", "median:3x3"]
DETECTOR = "squeeze:bits=4,median=2x2"
EPS = 8 / 255


def batch(seed: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    ds = SignDataset(n, seed=seed)
    xs, ys = zip(*(ds[i] for i in range(n)))
    return torch.stack(xs), torch.tensor(ys)


def joint_model() -> nn.Module:
    """The deployed path with its detector, rounding straight-through (what an adaptive attacker uses)."""
    net, info = models.build("signs", None)
    net.eval().requires_grad_(False)
    f = DefendedModel(net, defense_modules(DEFENSES, True, []), Normalize(info.mean, info.std))
    squeezers = from_spec(DETECTOR)
    squeezers.views = nn.ModuleList(defense_modules(list(squeezers.specs), True, []))
    return SqueezeDetector(f, squeezers).eval()


def main(n: int = 100, steps: int = 20) -> dict:
    torch.set_num_threads(1)
    det = joint_model()
    with torch.no_grad():
        clean_scores = det(batch(VAL_SEED, 500)[0])[1].numpy()
        tau = threshold_at_fpr(clean_scores, 0.05)
        x, y = batch(TEST_SEED, int(n * 1.1) + 4)
        logits, held = det(x)
        keep = logits.argmax(1) == y
    x, y, held = x[keep][:n], y[keep][:n], held[keep][:n].numpy()
    out: dict = {
        "defenses": DEFENSES,
        "detector": DETECTOR,
        "tau": tau,
        "fpr": 0.05,
        "calibration_images": 500,
        "held_out_clean_flagged": detection_rate(held, tau),
        "n": len(x),
        "eps": EPS,
        "steps": steps,
        "torch_threads": 1,
        "attacks": {},
    }
    runs = {
        "pgd (naive: ignores the detector)": (
            attacks.create("pgd", eps=EPS, steps=steps),
            lambda v: det(v)[0],
        ),
        "pgd-detector (weight 10)": (attacks.create("pgd-detector", eps=EPS, steps=steps, tau=tau), det),
    }
    for name, (attack, model) in runs.items():
        t0 = time.perf_counter()
        adv = attack(model, x, y, torch.Generator().manual_seed(0))
        with torch.no_grad():
            logits, score = det(adv)
        fooled = logits.argmax(1) != y
        flagged = score > tau
        out["attacks"][name] = {
            "spec": attack.spec(),
            "accuracy": float((~fooled).float().mean()),
            "flagged": float(flagged.float().mean()),
            "fooled_unflagged": float((fooled & ~flagged).float().mean()),
            "auc": auc(held, score.numpy()),
            "seconds": round(time.perf_counter() - t0, 1),
        }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out, indent=2) + "\n")
    return out


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    print(json.dumps(main(*args), indent=2))
