"""Adversarial patch that hides a person from a YOLO-layout person detector (Thys et al. CVPRW'19).

Thys, Van Ranst & Goedemé (seed 004, "Fooling automated surveillance cameras") print a 30 cm patch
that a person holds in front of the torso, and optimise it so YOLOv2 no longer sees the person:
minimise the maximum objectness (× person class) score over the image, plus a non-printability
score (NPS) and total variation (TV), with the patch pasted on every person of many images under
random contrast, brightness, noise and rotation. Here, for the ``(B, 4 + nc, N)`` YOLOv8 layout,
which has no objectness (Ultralytics' class scores are the confidence):

* **objective** ``max_n score_person(n)`` per image (``objective=image``, Thys et al.'s "obj·cls"
  loss without the objectness), or per patched person the max over the anchors whose centre lies in
  its box (``objective=person``: a distractor elsewhere in the frame then does not take the gradient);
  plus ``nps · NPS + tv · TV`` with the paper's weights 0.01 and 2.5 (:func:`~.sticker.nps`,
  :func:`~.sticker.total_variation`);
* **printable**: the patch is a per-pixel mix (softmax) of the printable inks of
  :data:`~.sticker.PALETTE`, so every pixel is inside their gamut (a printer reaches a mix by
  halftoning); NPS pulls pixels towards the inks themselves;
* **placement**: on each person's torso, side ``scale`` × the person's height (0.25 by default,
  about 40 cm on a 1.7 m person), :mod:`~.patch_place`; **EOT**: :mod:`~.patch_eot` (contrast
  0.8–1.2, brightness ±0.1, noise ±0.1, rotation ±20°, kornia);
* **universal**: one patch for everybody, optimised with Adam over batches of scenes (``fit``), then
  pasted on the people of any image (``__call__``);
* **adaptive**: the model may be ``eval.attackable(...).full`` (BPDA / straight-through / EOT through
  the deployed defenses), and a model returning ``(raw, adv_score)`` adds ``weight · relu(adv_score −
  tau)`` (He et al.'s detector-aware term, as :mod:`~.detector` and RP2 do).

Hand-written: ART's ``AdversarialPatchPyTorch`` optimises a classifier patch at random places and its
``RobustDPatch`` targets Faster R-CNN losses; neither pastes a printable patch on each person's box of a
YOLO-layout detector with these transforms.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from ..errors import InputError
from ..registry import ATTACKS
from . import sticker as st
from .patch_eot import PatchConditions, draw, recolour
from .patch_place import DEFAULT_SCALE, box_mask, check_scale, paste, torso_squares
from .rp2 import split_output

OBJECTIVES = ("image", "person")
Boxes = Sequence[torch.Tensor]


def person_scores(out: torch.Tensor, person_class: int = 0) -> torch.Tensor:
    """``(B, N)`` person scores of a YOLO-layout output ``(B, 4 + nc, N)``.

    Raises:
        InputError: not a ``(B, 4 + nc, N)`` tensor with the class in range.
    """
    if out.dim() != 3 or out.shape[1] < 5:
        raise InputError(
            f"patch: the detector output must be (B, 4 + classes, anchors) as YOLOv8, got {tuple(out.shape)}"
        )
    if not 0 <= person_class < out.shape[1] - 4:
        raise InputError(f"patch: person class {person_class} not among the {out.shape[1] - 4} classes")
    return out[:, 4 + person_class]


def box_scores(out: torch.Tensor, boxes: Boxes, image_index: torch.Tensor, person_class: int) -> torch.Tensor:
    """``(M,)`` per person: the max person score over anchors whose centre lies in its box."""
    s = person_scores(out, person_class)
    cx, cy = out[:, 0], out[:, 1]
    res = []
    for j, b in enumerate(boxes):
        i = int(image_index[j])
        inside = (cx[i] >= b[0]) & (cx[i] < b[2]) & (cy[i] >= b[1]) & (cy[i] < b[3])
        res.append(torch.where(inside, s[i], torch.zeros_like(s[i])).amax())
    return torch.stack(res) if res else s.new_zeros(0)


def flatten_targets(boxes: Boxes, heights: Sequence[torch.Tensor] | None = None) -> tuple[torch.Tensor, ...]:
    """``(M, 4)`` boxes, ``(M,)`` image index and ``(M,)`` heights (or box heights) of per-image lists."""
    if not isinstance(boxes, (list, tuple)):
        raise InputError("patch: targets must be a list of (K, 4) person boxes per image (xyxy pixels)")
    flat, index, tall = [], [], []
    for i, b in enumerate(boxes):
        b = torch.as_tensor(b, dtype=torch.float32).reshape(-1, 4)
        if not bool(torch.isfinite(b).all()):
            raise InputError(f"patch: image {i}: person boxes must be finite")
        flat.append(b)
        index.append(torch.full((len(b),), i, dtype=torch.long))
        hb = b[:, 3] - b[:, 1]
        tall.append(hb if heights is None else torch.as_tensor(heights[i], dtype=torch.float32).reshape(-1))
    if not flat:
        z = torch.zeros(0, 4)
        return z, torch.zeros(0, dtype=torch.long), z[:, 0]
    return torch.cat(flat), torch.cat(index), torch.cat(tall)


def wear(
    images: torch.Tensor,
    boxes: Boxes,
    patch: torch.Tensor,
    *,
    scale: float = DEFAULT_SCALE,
    conditions: PatchConditions | None = None,
    generator: torch.Generator | None = None,
    heights: Sequence[torch.Tensor] | None = None,
) -> torch.Tensor:
    """Every person of every image wearing ``patch`` on the torso, under conditions drawn per person.

    Args:
        images: ``(B, 3, H, W)`` in [0, 1].
        boxes: per image a ``(K, 4)`` tensor of person boxes (xyxy pixels).
        patch: ``(3, p, p)`` in [0, 1] (may require grad).
        scale: patch side / person height.
        conditions: EOT ranges (default Thys et al.'s); ``PatchConditions.none()`` pastes it as is.
        generator: seeds the conditions.
        heights: per image the persons' full heights (``None``: box heights).
    """
    if len(boxes) != len(images):
        raise InputError(f"patch: {len(boxes)} box lists for {len(images)} images")
    flat, index, tall = flatten_targets(boxes, heights)
    if not len(flat):
        return images
    params = draw(len(flat), conditions or PatchConditions(), generator)
    copies = recolour(patch.to(images.dtype), params)
    return paste(images, copies, torso_squares(flat, scale, tall), index, flat, params["rotation"])


def random_patch(size: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """The control: uniform noise ``(3, size, size)`` in [0, 1] (Thys et al. compare with one)."""
    return torch.rand(3, size, size, generator=generator)


@dataclass
class PatchResult:
    """A fitted patch ``(3, p, p)`` in [0, 1], its ink logits and the objective per step."""

    patch: torch.Tensor
    logits: torch.Tensor
    history: list[float]


@dataclass(frozen=True)
class PersonPatch:
    """Universal person-hiding patch (see the module docstring)."""

    name: ClassVar[str] = "patch"
    norm: ClassVar[str] = "none"
    kind: ClassVar[str] = "universal"
    random: ClassVar[bool] = True
    eps: ClassVar[float | None] = None

    scale: float = DEFAULT_SCALE
    size: int = 48
    steps: int = 300
    batch: int = 8
    lr: float = 0.1
    nps: float = 0.01
    tv: float = 2.5
    objective: str = "person"
    person_class: int = 0
    tau: float = 0.0
    weight: float = 10.0
    conditions: PatchConditions = field(default_factory=PatchConditions, compare=False)
    _fitted: dict = field(default_factory=dict, compare=False, repr=False)

    def spec(self) -> str:
        return (
            f"patch:scale={self.scale:g},size={self.size},steps={self.steps},batch={self.batch},"
            f"lr={self.lr:g},nps={self.nps:g},tv={self.tv:g},objective={self.objective},"
            f"person_class={self.person_class},tau={self.tau:g},weight={self.weight:g}"
        )

    @property
    def patch(self) -> torch.Tensor | None:
        """The fitted patch ``(3, size, size)``, or ``None`` before :meth:`fit`."""
        return self._fitted.get("patch")

    def use(self, patch: torch.Tensor) -> PersonPatch:
        """This attack holding a given patch (e.g. the shipped asset) instead of fitting one."""
        if patch.dim() != 3 or patch.shape[0] != 3 or float(patch.min()) < 0 or float(patch.max()) > 1:
            raise InputError("patch: a patch is a (3, p, p) tensor in [0, 1]")
        self._fitted["patch"] = patch.detach().float()
        return self

    def loss(self, out: Any, flat: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """The detection term to minimise (mean over images or patched persons) + detector penalty."""
        raw, score = split_output(out)
        if self.objective == "image":
            term = person_scores(raw, self.person_class).amax(1).mean()
        else:
            term = box_scores(raw, flat, index, self.person_class).mean()
        if score is not None:
            term = term + self.weight * torch.relu(score - self.tau).mean()
        return term

    def optimise(
        self,
        model: Callable[[torch.Tensor], Any],
        images: torch.Tensor,
        boxes: Boxes,
        generator: torch.Generator | None = None,
        *,
        heights: Sequence[torch.Tensor] | None = None,
        log: Callable[[int, float], None] | None = None,
    ) -> PatchResult:
        """Fit one patch on ``images`` (their persons wear it), ``steps`` Adam steps on ``batch``
        images drawn from those with at least one person.

        Raises:
            InputError: no image has a person, or the targets do not match the images.
        """
        if len(boxes) != len(images):
            raise InputError(f"patch: {len(boxes)} box lists for {len(images)} images")
        usable = [i for i, b in enumerate(boxes) if torch.as_tensor(b).numel()]
        if not usable:
            raise InputError("patch: no image has a person box to put the patch on")
        k = len(st.PALETTE)
        theta = (0.5 * torch.randn(k, self.size, self.size, generator=generator)).requires_grad_()
        opt = torch.optim.Adam([theta], lr=self.lr)
        ones = torch.ones(1, 1, self.size, self.size)
        history: list[float] = []
        for step in range(self.steps):
            pick = torch.randint(0, len(usable), (min(self.batch, len(usable)),), generator=generator)
            sel = [usable[int(k)] for k in pick]
            bx = [torch.as_tensor(boxes[i], dtype=torch.float32).reshape(-1, 4) for i in sel]
            hs = None if heights is None else [heights[i] for i in sel]
            colour = st.soft(theta[None], "palette", 1.0)
            x = wear(
                images[sel], bx, colour[0], scale=self.scale, conditions=self.conditions,
                generator=generator, heights=hs,
            )  # fmt: skip
            flat, index, _ = flatten_targets(bx)
            term = self.loss(model(x), flat, index)
            total = term + self.nps * st.nps(colour, ones, "palette")[0]
            # per channel: Thys et al. normalise TV by the patch's element count (3·p²)
            total = total + self.tv * st.total_variation(colour, ones)[0] / 3
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
            history.append(float(term.detach()))
            if log is not None:
                log(step, history[-1])
        with torch.no_grad():
            patch = st.soft(theta[None], "palette", 1.0)[0]
        return PatchResult(patch=patch.detach(), logits=theta.detach(), history=history)

    def fit(
        self, model: Callable[[torch.Tensor], Any], x: torch.Tensor, y: Boxes,
        generator: torch.Generator | None = None,
    ) -> None:  # fmt: skip
        """Fit the universal patch on ``(x, y)`` (``y``: per image its ``(K, 4)`` person boxes)."""
        with _frozen(model):
            self._fitted["patch"] = self.optimise(model, x, y, generator).patch

    def __call__(
        self, model: Callable[[torch.Tensor], Any], x: torch.Tensor, y: Boxes,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:  # fmt: skip
        """``x`` with every person of ``y`` wearing the fitted patch (fitted on this batch first when
        not fitted yet: then the result is not a held-out measurement)."""
        if self.patch is None:
            self.fit(model, x, y, generator)
        assert self.patch is not None
        with torch.no_grad():
            out = wear(x, y, self.patch, scale=self.scale, conditions=self.conditions, generator=generator)
        return out.clamp(0, 1).detach()


class _frozen:
    """Parameters of a torch model get no gradient and its mode is kept while the patch is fitted."""

    def __init__(self, model: Any) -> None:
        self.model = model if isinstance(model, nn.Module) else None

    def __enter__(self) -> None:
        if self.model is not None:
            self.training = self.model.training
            self.req = [p.requires_grad for p in self.model.parameters()]
            self.model.eval()
            for p in self.model.parameters():
                p.requires_grad_(False)

    def __exit__(self, *exc: object) -> None:
        if self.model is not None:
            self.model.train(self.training)
            for p, r in zip(self.model.parameters(), self.req, strict=True):
                p.requires_grad_(r)


def region_mask(boxes: Boxes, height: int, width: int) -> torch.Tensor:
    """``(B, 1, H, W)`` union of each image's person boxes: where a worn patch may change pixels."""
    out = torch.zeros(len(boxes), 1, height, width)
    for i, b in enumerate(boxes):
        b = torch.as_tensor(b, dtype=torch.float32).reshape(-1, 4)
        if len(b):
            out[i] = box_mask(b, height, width).amax(0)
    return out


@ATTACKS.register(
    "patch",
    summary="universal printable patch on each person's torso that hides people from a YOLO detector (EOT)",
    usage="patch:scale=0.25,steps=300,batch=8",
    source="Thys et al. CVPRW'19 (obj. adapted to YOLOv8's layout, NPS 0.01, TV 2.5); transforms in kornia",
    realtime=False,
    random=True,
    examples=({"steps": 3, "batch": 2, "size": 16},),
    invalid=(
        {"scale": 0},
        {"scale": 1.5},
        {"steps": 0},
        {"size": 2},
        {"batch": 0},
        {"lr": 0},
        {"objective": "nosuch"},
        {"tv": -1},
        {"person_class": -1},
    ),
    norm="none",
    kind="universal",
    minimal=False,
    task="detection",
)
def patch(
    scale: float = DEFAULT_SCALE,
    size: int = 48,
    steps: int = 300,
    batch: int = 8,
    lr: float = 0.1,
    nps: float = 0.01,
    tv: float = 2.5,
    objective: str = "person",
    person_class: int = 0,
    tau: float = 0.0,
    weight: float = 10.0,
) -> PersonPatch:
    """``patch:scale=0.25,steps=300,batch=8``.

    Args:
        scale: patch side as a fraction of the person's height, in (0, 1] (larger would leave the box).
        size: patch resolution in pixels (side), 4..512.
        steps: Adam steps; batch: scenes per step.
        lr: Adam's step on the ink logits.
        nps, tv: weights of non-printability and total variation (Thys et al.: 0.01, 2.5).
        objective: ``person`` (max score inside each patched person's box) or ``image`` (max over the
            image, Thys et al.'s loss).
        person_class: index of the person class among the detector's classes.
        tau, weight: detector threshold and penalty weight on ``relu(adv_score − tau)`` (used when the
            model returns ``(raw, adv_score)``).
    """
    from ._params import choice, real, whole

    name = "patch"
    return PersonPatch(
        check_scale(scale, name),
        whole(name, "size", size, lo=4, hi=512),
        whole(name, "steps", steps),
        whole(name, "batch", batch, hi=1024),
        real(name, "lr", lr, hi=10.0),
        real(name, "nps", nps, closed=True),
        real(name, "tv", tv, closed=True),
        choice(name, "objective", objective, OBJECTIVES),
        whole(name, "person_class", person_class, lo=0),
        real(name, "tau", tau, lo=-math.inf, closed=True),
        real(name, "weight", weight, closed=True),
    )


__all__ = [
    "OBJECTIVES",
    "PatchResult",
    "PersonPatch",
    "box_scores",
    "flatten_targets",
    "patch",
    "person_scores",
    "random_patch",
    "region_mask",
    "wear",
]
