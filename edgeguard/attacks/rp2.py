"""RP2: Robust Physical Perturbations — a printable sticker optimised over viewing conditions.

Eykholt et al. (CVPR'18, seed 004) fooled a road-sign classifier with black-and-white stickers on a
real stop sign: 100 % of lab shots, 84.8 % of drive-by frames. The attack optimises a perturbation
restricted to a mask on the sign face, averaged over a distribution of physical conditions (EOT,
Athalye et al. ICML'18), with a total-variation term for printability and, for colour stickers, a
non-printability score. Here:

* the sticker is a mask (:mod:`edgeguard.attacks.sticker`: RP2's two "subtle poster" bars by default,
  a centred square, custom rectangles, or ``l1``: cells chosen from an L1-regularised pass over the
  whole face, as RP2 picks its mask) times colours from a printable set, relaxed (sigmoid/softmax of
  logits with a temperature annealed from 1 to 0.05) and hardened at the end to exactly one ink per
  pixel — black or white for ``colours=bw``;
* it is composited onto the sign *face* before the viewing transform, so it moves with the sign, and
  every step averages the loss over ``eot`` views drawn from :class:`~.physical.Conditions` (the sign
  renderer's nuisance model, yaw up to 30°) rendered by kornia;
* targeted (``target=speed limit 80``: cross-entropy to the target, label names resolved against the
  model's labels) or untargeted (cross-entropy of the true class ascended);
* adaptive: the model may be ``eval.attackable(...).full`` (BPDA/straight-through/EOT through the
  deployed defenses), and a model returning ``(logits, adv_score)`` (``attackable(...).joint``) adds
  ``weight · relu(adv_score − tau)`` as :mod:`~.detector` does, so the sticker also stays under the
  squeeze detector's threshold.

Steps are sign-gradient steps on the logits (no optimiser state: torch.optim costs seconds to import
on the target machine). The best hardened sticker seen (success on that step's views, then loss) is
kept. Hand-written: torchattacks/ART/foolbox have no masked, printable, EOT-over-physical-views sticker
attack (ART's AdversarialPatch optimises a free-colour patch pasted on images, not a mask on an object).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..registry import ATTACKS
from . import sticker as st
from .physical import Conditions, draw, view

KAPPA = 2.0


@dataclass
class Sticker:
    """An optimised sticker on ``B`` sign faces: ``mask`` ``(1, 1, h, w)`` 0/1, ``colour`` ``(B, 3, h,
    w)`` hard inks (meaningful inside the mask), the mask's rectangles and the loss history."""

    mask: torch.Tensor
    colour: torch.Tensor
    rects: tuple[st.Rect, ...]
    history: list[float] = field(default_factory=list)

    def apply(self, face: torch.Tensor) -> torch.Tensor:
        """``face`` with the sticker composited (face resolution)."""
        return st.composite(face, self.colour.to(face), self.mask.to(face))


def split_output(out: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(logits, adv_score or None)`` from a model that returns logits or ``(logits, adv_score)``."""
    if isinstance(out, (tuple, list)):
        return out[0], out[1]
    return out, None


def sticker_margin(
    logits: torch.Tensor, y: torch.Tensor, target: int | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-view margin to minimise and per-view success, shared by the gradient and query searches.

    Untargeted: the true class's margin over the best other class (fooled when the top-1 is not
    ``y``); targeted: minus the target's margin (won when the top-1 is the target).
    """
    from .query import margin

    if target is None:
        return margin(logits, y), logits.argmax(1) != y
    tt = torch.full_like(y, target)
    return -margin(logits, tt), logits.argmax(1) == tt


def detector_penalty(
    loss: torch.Tensor, won: torch.Tensor, score: torch.Tensor | None, tau: float, weight: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """He et al.'s adaptive term: ``weight · relu(score − τ)`` added, and a flagged view never counts
    as won (a caught attack). Unchanged without a detector score."""
    if score is None:
        return loss, won
    return loss + weight * F.relu(score - tau), won & (score <= tau)


def resolve_target(target: str | None, labels: list[str] | tuple[str, ...] | None) -> int | None:
    """The class index of ``target``: a whole number, or a label name (``speed limit 80`` and
    ``speed_limit_80`` both match, case-insensitive) looked up in the model's ``labels``.

    Raises:
        ConfigError: an unknown label or an index out of range (close names suggested).
    """
    if target is None:
        return None
    key = str(target).strip()
    n = len(labels) if labels else None
    if key.isdigit():
        if n is not None and int(key) >= n:
            raise ConfigError(f"rp2: target index {key} out of range 0..{n - 1}")
        return int(key)
    if not labels:
        raise ConfigError(f"rp2: target {target!r} is a label name but the model has no labels")
    norm = [str(lab).strip().lower().replace("_", " ") for lab in labels]
    want = key.lower().replace("_", " ").replace("-", " ")
    if want in norm:
        return norm.index(want)
    import difflib

    close = difflib.get_close_matches(want, norm, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise ConfigError(f"rp2: unknown target label {target!r}{hint}")


@dataclass(frozen=True)
class RP2:
    """RP2 sticker attack (see the module docstring). ``target=None``: untargeted."""

    name: ClassVar[str] = "rp2"
    norm: ClassVar[str] = "none"
    kind: ClassVar[str] = "white-box"
    random: ClassVar[bool] = True
    eps: ClassVar[float | None] = None

    mask: str = "bars"
    target: str | None = None
    steps: int = 100
    eot: int = 8
    colours: str = "bw"
    tv: float = 0.05
    nps: float = 0.5
    lr: float = 0.3
    tau: float = 0.0
    weight: float = 10.0
    labels: tuple[str, ...] | None = field(default=None, compare=False)
    conditions: Conditions = field(default_factory=Conditions, compare=False)

    def spec(self) -> str:
        target = "" if self.target is None else f",target={self.target}"
        return (
            f"rp2:mask={self.mask}{target},steps={self.steps},eot={self.eot},colours={self.colours},"
            f"tv={self.tv:g},nps={self.nps:g},lr={self.lr:g},tau={self.tau:g},weight={self.weight:g}"
        )

    def with_labels(self, labels: list[str] | tuple[str, ...] | None) -> RP2:
        """The attack with the model's labels, checking the target against them."""
        made = replace(self, labels=None if labels is None else tuple(labels))
        resolve_target(made.target, made.labels)
        return made

    def _loss(
        self, model: nn.Module, views: torch.Tensor, y: torch.Tensor, t: int | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-view loss to minimise and per-view success (fooled / target hit, and not flagged)."""
        logits, score = split_output(model(views))
        m, won = sticker_margin(logits, y, t)
        # CW's clamped margin (Carlini & Wagner S&P'17): a view already won by KAPPA stops pulling, so
        # the expectation over views is spent on the views still read correctly
        return detector_penalty(m.clamp(min=-KAPPA), won, score, self.tau, self.weight)

    def optimise(
        self,
        model: nn.Module,
        face: torch.Tensor,
        y: torch.Tensor,
        *,
        alpha: torch.Tensor | None = None,
        size: int | None = None,
        generator: torch.Generator | None = None,
    ) -> Sticker:
        """Optimise one sticker per face.

        Args:
            model: ``(n, 3, size, size)`` pixels in [0, 1] → logits (or ``(logits, adv_score)``).
            face: ``(B, 3, h, w)`` frontal sign faces in [0, 1].
            y: ``(B,)`` true classes.
            alpha: ``(1, 1, h, w)`` coverage of the sign in the face image (``None``: all face).
            size: the model's input side (``None``: the face's own side).
            generator: seeds the start, the EOT draws and the noise.

        Raises:
            ConfigError: the mask leaves the sign, or the target is not among the labels.
        """
        b, _, h, w = face.shape
        size = int(size or h)
        alpha = torch.ones(1, 1, h, w, dtype=face.dtype) if alpha is None else alpha.to(face.dtype)
        t = resolve_target(self.target, self.labels)
        if self.mask == "l1":
            from .rp2_l1 import l1_mask

            rects = l1_mask(
                lambda v, yy: self._loss(model, v, yy, t),
                face,
                y,
                alpha,
                size,
                steps=self.steps,
                eot=self.eot,
                conditions=self.conditions,
                generator=generator,
            )
        else:
            rects = st.parse_mask(self.mask)
            if alpha.min() < 1:
                st.check_on_face(rects, alpha)
        mask = st.rasterise(rects, h, w).to(face) * (alpha > 0.5).to(face)
        k = 1 if self.colours == "bw" else len(st.PALETTE)
        theta = 0.1 * torch.randn(b, k, h, w, generator=generator, dtype=face.dtype)
        rep = lambda z: z.repeat_interleave(self.eot, 0)  # noqa: E731
        a_rep, y_rep = alpha.expand(b * self.eot, 1, h, w), rep(y)
        best = st.hard(theta, self.colours)
        best_key = (-1.0, math.inf)
        history: list[float] = []
        for i in range(self.steps + 1):
            params = draw(b * self.eot, self.conditions, generator)
            if i % 10 == 0 or i == self.steps:  # score the hardened sticker on this step's views
                with torch.no_grad():
                    hard = st.hard(theta, self.colours)
                    loss, won = self._loss(
                        model, view(rep(st.composite(face, hard, mask)), a_rep, params, size), y_rep, t
                    )
                    key = (float(won.float().mean()), float(loss.mean()))
                    if key[0] > best_key[0] or (key[0] == best_key[0] and key[1] < best_key[1]):
                        best, best_key = hard, key
            if i == self.steps:
                break
            temp = math.exp(math.log(1.0) + (math.log(0.05) - math.log(1.0)) * i / max(1, self.steps - 1))
            theta.requires_grad_(True)
            colour = st.soft(theta, self.colours, temp)
            views = view(rep(st.composite(face, colour, mask)), a_rep, params, size)
            loss, _ = self._loss(model, views, y_rep, t)
            total = loss.mean() + self.tv * st.total_variation(colour, mask).mean()
            if self.colours == "palette":
                total = total + self.nps * st.nps(colour, mask, self.colours).mean()
            (grad,) = torch.autograd.grad(total, theta)
            history.append(float(total.detach()))
            theta = (theta.detach() - self.lr * grad.sign()).clamp(-6, 6)
        return Sticker(mask=mask, colour=best.detach(), rects=rects, history=history)

    def __call__(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Each image of ``x`` is taken as a frontal sign face filling the frame; returns the faces
        with their hardened stickers (pixels change only inside the mask, to exact inks)."""
        result = self.optimise(model, x, y, generator=generator)
        return result.apply(x).clamp(0, 1).detach()


def success(
    model: nn.Module,
    face: torch.Tensor,
    y: torch.Tensor,
    *,
    target: int | None = None,
    alpha: torch.Tensor | None = None,
    size: int | None = None,
    views: int = 100,
    conditions: Conditions | None = None,
    generator: torch.Generator | None = None,
    tau: float | None = None,
) -> dict[str, float]:
    """Measured over ``views`` fresh viewing conditions per face (no gradients): ``fooled`` (read as
    anything but ``y`` and not flagged), ``targeted`` (read as ``target``, not flagged), ``flagged``
    (detector score above ``tau``, when the model returns one and ``tau`` is given)."""
    b, _, h, w = face.shape
    size = int(size or h)
    alpha = torch.ones(1, 1, h, w) if alpha is None else alpha
    cond = conditions or Conditions()
    hits = {"fooled": 0.0, "targeted": 0.0, "flagged": 0.0}
    with torch.no_grad():
        for start in range(0, views, 50):
            n = min(50, views - start)
            params = draw(b * n, cond, generator)
            imgs = view(face.repeat_interleave(n, 0), alpha.expand(b * n, 1, h, w), params, size)
            logits, score = split_output(model(imgs))
            pred, yy = logits.argmax(1), y.repeat_interleave(n)
            flagged = (
                (score > tau) if (score is not None and tau is not None) else torch.zeros_like(yy).bool()
            )
            hits["fooled"] += float(((pred != yy) & ~flagged).sum())
            if target is not None:
                hits["targeted"] += float(((pred == target) & ~flagged).sum())
            hits["flagged"] += float(flagged.sum())
    return {k: v / (b * views) for k, v in hits.items()}


def _check(a: RP2) -> RP2:
    from ._params import choice, real, whole

    whole("rp2", "steps", a.steps, lo=1)
    whole("rp2", "eot", a.eot, lo=1, hi=512)
    choice("rp2", "colours", a.colours, st.COLOURS)
    for key in ("tv", "nps", "tau", "weight"):
        real("rp2", key, getattr(a, key), closed=True)
    real("rp2", "lr", a.lr, hi=10.0)
    if a.mask != "l1":
        st.parse_mask(a.mask)
    if a.target is not None and not str(a.target).strip():
        raise ConfigError("rp2: target must be a class label or index")
    return a


@ATTACKS.register(
    "rp2",
    summary="RP2 printable sticker (black/white bars by default) optimised over viewing conditions (EOT)",
    usage="rp2:mask=bars,target=speed limit 80,steps=100,eot=8",
    source="Eykholt et al. CVPR'18 (RP2); EOT Athalye et al. ICML'18; views rendered with kornia",
    random=True,
    examples=({"steps": 6, "eot": 2}, {"mask": "square", "steps": 4, "eot": 2, "colours": "palette"}),
    invalid=(
        {"steps": 0},
        {"steps": 2.5},
        {"eot": 0},
        {"mask": "0.5:0.5:1.2:0.9"},
        {"mask": "nosuch"},
        {"colours": "rainbow"},
        {"tv": -1},
        {"lr": 0},
    ),
    norm="none",
    kind="white-box",
    minimal=False,
)
def rp2(
    mask: str = "bars",
    target: str | int | None = None,
    steps: int = 100,
    eot: int = 8,
    colours: str = "bw",
    tv: float = 0.05,
    nps: float = 0.5,
    lr: float = 0.3,
    tau: float = 0.0,
    weight: float = 10.0,
) -> RP2:
    """``rp2:mask=bars,target=speed limit 80,steps=100,eot=8``.

    Args:
        mask: ``bars`` (RP2's two bars), ``square`` (side 0.25), ``l1`` (cells chosen by an L1 pass)
            or rectangles ``x0:y0:x1:y1+…`` in face fractions.
        target: class label or index to reach (``None``: untargeted).
        steps: sign-gradient steps on the sticker logits, >= 1.
        eot: viewing conditions drawn per step (1..512).
        colours: ``bw`` (black/white) or ``palette`` (printable inks with a non-printability score).
        tv: total-variation weight; nps: non-printability weight (palette); lr: step on the logits.
        tau, weight: detector threshold and penalty weight on ``relu(adv_score − tau)`` (used when
            the model returns ``(logits, adv_score)``).

    Raises:
        ConfigError: a parameter out of range, an unknown mask or colour set, a mask off the face.
    """
    return _check(
        RP2(
            str(mask).strip().lower(),
            None if target is None else str(target),
            steps,
            eot,
            str(colours).lower(),
            tv,
            nps,
            lr,
            tau,
            weight,
        )
    )


__all__ = ["RP2", "Sticker", "resolve_target", "rp2", "split_output", "success"]
