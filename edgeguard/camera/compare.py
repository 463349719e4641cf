"""Attack vs defense on the drive-by: how often the sticker fooled each engine (issue #12's demo).

A frame *fools* an engine when the source knows the true sign (``source.truth``, "stop" for the
synthetic drive-by), the engine reads anything else, and its detector did not flag the frame — a flagged
frame is a caught attack (its event fires), the same rule as the stop-sign scenario's fooled rate.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from .infer import Result, top_label


def fooled(decision: dict[str, Any] | None, truth: str | None) -> bool:
    """Read as anything but ``truth`` and not flagged (False when the truth is unknown)."""
    if truth is None or decision is None:
        return False
    return top_label(decision) != truth and not bool(decision.get("flagged", False))


class Tally:
    """Counts per engine: frames fooled, flagged, and the comparison engine's label histogram."""

    def __init__(self, truth: str | None, sticker: str | None, compare: str | None) -> None:
        self.truth = truth
        self.sticker = sticker
        self.compare = compare  # the comparison engine's description (None: no comparison)
        self.frames = 0
        self.fooled = {"defended": 0, "undefended": 0}
        self.compare_labels: Counter[str] = Counter()
        self.compare_flagged = 0

    def add(self, r: Result) -> None:
        self.frames += 1
        self.fooled["defended"] += int(fooled(r.decision, self.truth))
        if r.compare is not None:
            self.fooled["undefended"] += int(fooled(r.compare, self.truth))
            label = top_label(r.compare)
            if label is not None:
                self.compare_labels[label] += 1
            self.compare_flagged += int(bool(r.compare.get("flagged", False)))

    def to_dict(self) -> dict[str, Any]:
        """The summary's ``attack`` part (``compare`` only with a comparison engine)."""
        out: dict[str, Any] = {
            "truth": self.truth,
            "sticker": self.sticker,
            "frames": self.frames,
            "fooled_defended": self.fooled["defended"] if self.truth else None,
        }
        if self.compare is not None:
            out["fooled_undefended"] = self.fooled["undefended"] if self.truth else None
            out["compare"] = {
                "engine": self.compare,
                "labels": dict(self.compare_labels.most_common()),
                "flagged": self.compare_flagged,
            }
        return out


def summary_lines(attack: dict[str, Any]) -> list[str]:
    """The demo's last lines: frames the sticker fooled undefended, then defended."""
    if not attack or attack.get("truth") is None:
        return []
    n, sticker = attack["frames"], attack.get("sticker")
    what = f"the {sticker} sticker fooled" if sticker else "no sticker: misread by"
    lines = []
    if attack.get("fooled_undefended") is not None:
        lines.append(f"{what} the undefended engine on {attack['fooled_undefended']}/{n} frames")
    fooled = attack["fooled_defended"]
    lines.append(f"{what} the defended engine on {fooled}/{n} frames (a flagged frame counts as caught)")
    return lines


__all__ = ["Tally", "fooled", "summary_lines"]
