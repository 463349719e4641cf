"""Articulated human figures and street/indoor distractor objects for the surveillance renderer.

A figure is drawn into its own small canvas as a *part map* (skin, hair, top, bottom, shoes, bag) at 2×
resolution; colours, shading and clothing textures are applied per part with numpy, and the canvas is
area-downsampled so edges come out anti-aliased. The result is an RGB patch plus a coverage alpha, which
:mod:`edgeguard.data.scenes` composites into the scene (and uses to measure the visible box and the
occlusion). Proportions follow the usual ~7.5-heads canon; joint angles come from a pose (walking phase,
standing, arm raised, carrying) and a facing angle (front/back views are wide, side views narrow).

Distractors (poles, lamps, bins, bags, bollards, hydrants, trees, dogs, birds, sign boards, low walls,
cars) are drawn straight into the scene: several are person-sized upright blobs so that "a tall blob"
is not a person.
"""

from __future__ import annotations

import cv2
import numpy as np

SKIN = np.array([[255, 224, 196], [234, 192, 160], [198, 144, 110], [150, 100, 70], [98, 64, 44]], np.float32)
HAIR = np.array([[30, 24, 20], [80, 50, 30], [150, 110, 60], [200, 180, 130], [120, 120, 120]], np.float32)
# part ids in the part map
P_SKIN, P_HAIR, P_TOP, P_BOTTOM, P_SHOES, P_BAG = 1, 2, 3, 4, 5, 6
SS = 2  # supersampling of the figure canvas


def _pt(x: float, y: float) -> tuple[int, int]:
    return int(round(x * 16)), int(round(y * 16))  # 4 fractional bits


def _limb(pm: np.ndarray, sh: np.ndarray, a, b, t: float, part: int, shade: float) -> None:
    th = max(1, int(round(t)))
    cv2.line(pm, _pt(*a), _pt(*b), part, th, cv2.LINE_8, 4)
    cv2.line(sh, _pt(*a), _pt(*b), shade, th, cv2.LINE_8, 4)


def _poly(pm: np.ndarray, sh: np.ndarray, pts: np.ndarray, part: int, shade: float) -> None:
    p = np.round(np.asarray(pts) * 16).astype(np.int32)
    cv2.fillPoly(pm, [p], part, cv2.LINE_8, 4)
    cv2.fillPoly(sh, [p], shade, cv2.LINE_8, 4)


def _ellipse(pm, sh, c, axes, part: int, shade: float, angle: float = 0.0, start=0, end=360) -> None:
    ax = (max(1, int(round(axes[0] * 16))), max(1, int(round(axes[1] * 16))))
    cv2.ellipse(pm, _pt(*c), ax, angle, start, end, part, -1, cv2.LINE_8, 4)
    cv2.ellipse(sh, _pt(*c), ax, angle, start, end, shade, -1, cv2.LINE_8, 4)


def _chain(origin, angles: tuple[float, float], lengths: tuple[float, float]) -> tuple:
    """Two-segment limb from ``origin``: angles in radians from straight down (+ = towards +x)."""
    a1, a2 = angles
    j = (origin[0] + lengths[0] * np.sin(a1), origin[1] + lengths[0] * np.cos(a1))
    e = (j[0] + lengths[1] * np.sin(a1 + a2), j[1] + lengths[1] * np.cos(a1 + a2))
    return j, e


def _texture(rng: np.random.Generator, shape: tuple[int, int], photos: tuple[np.ndarray, ...]) -> np.ndarray:
    """Multiplicative clothing texture (≈1 on average): plain, stripes, checks or a photo crop."""
    h, w = shape
    kind = rng.integers(5)
    if kind <= 1:
        return np.ones((h, w), np.float32)
    if kind == 2:  # stripes at a random angle and pitch
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        a = rng.uniform(0, np.pi)
        period = rng.uniform(3, 10) * SS
        s = np.sin((xx * np.cos(a) + yy * np.sin(a)) * 2 * np.pi / period)
        return (1 + rng.uniform(0.15, 0.4) * np.sign(s)).astype(np.float32)
    if kind == 3:  # checks
        yy, xx = np.mgrid[0:h, 0:w]
        p = int(rng.integers(3, 8) * SS)
        return np.where(((yy // p) + (xx // p)) % 2 == 0, 1.2, 0.8).astype(np.float32)
    im = photos[rng.integers(len(photos))]
    ph, pw = im.shape[:2]
    side = int(rng.integers(24, min(ph, pw)))
    y, x = rng.integers(0, ph - side + 1), rng.integers(0, pw - side + 1)
    g = cv2.cvtColor(im[y : y + side, x : x + side], cv2.COLOR_RGB2GRAY).astype(np.float32)
    g = cv2.resize(g, (w, h), interpolation=cv2.INTER_LINEAR)
    return 0.6 + 0.8 * g / max(float(g.mean()) * 2, 1.0)


def draw_person(
    rng: np.random.Generator,
    height: float,
    photos: tuple[np.ndarray, ...],
    *,
    pose: str | None = None,
    phase: float | None = None,
    facing: float | None = None,
    side: float | None = None,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """One person ``height`` pixels tall (head to feet, standing), feet at the bottom centre.

    ``pose`` (walk, stand, raise, carry, wide), walking ``phase`` (radians), ``facing`` (0 = front/back,
    π/2 = side view) and ``side`` (+1 faces right, -1 left) override the random draws (which are made
    anyway, so the rest of the figure stays the same: the camera source animates a walker this way).

    Returns:
        ``(rgb, alpha, meta)``: float32 RGB in [0, 1] and float32 coverage ``(h, w)``; the feet rest on
        the bottom row at column ``meta["foot_x"]``. ``meta`` also has ``pose`` and ``facing``.
    """
    H = float(height) * SS
    build = rng.uniform(0.82, 1.25)
    facing_r = rng.uniform(0, np.pi)  # 0 front/back view, pi/2 side view
    facing = facing_r if facing is None else facing
    wide = max(0.32, abs(np.cos(facing)))
    side_dir = 1.0 if rng.random() < 0.5 else -1.0
    pose_r = ("walk", "walk", "stand", "raise", "carry", "wide")[rng.integers(6)]
    pose = pose_r if pose is None else pose
    if side is not None:
        side_dir = float(side)
    w_can, h_can = int(0.95 * H) + 8, int(1.06 * H) + 6
    pm = np.zeros((h_can, w_can), np.uint8)
    sh = np.ones((h_can, w_can), np.float32)
    cx, top = w_can / 2.0, 2.0
    yy = lambda f: top + f * H  # noqa: E731 - vertical position of a fraction of the height
    sw, hw = 0.115 * H * build * wide, 0.085 * H * build * max(wide, 0.55)
    arm_t, leg_t = 0.05 * H * build, 0.068 * H * build
    phase_r = rng.uniform(0, 2 * np.pi)
    phase = phase_r if phase is None else phase
    swing = {"walk": rng.uniform(0.25, 0.55), "wide": 0.0}.get(pose, rng.uniform(0.0, 0.12))
    s = np.sin(phase) * swing * (1.0 if wide < 0.8 else 0.45)  # swings show most from the side
    legs = [(-hw * 0.55, s, max(0.0, -s) * 1.2), (hw * 0.55, -s, max(0.0, s) * 1.2)]
    if pose == "wide":
        spread = rng.uniform(0.1, 0.3)
        legs = [(-hw * 0.55, -spread, 0.0), (hw * 0.55, spread, 0.0)]
    hip_y = yy(0.52)
    thigh, shin = 0.245 * H, 0.25 * H
    feet = []
    for k, (dx, a_hip, knee) in enumerate(legs):
        shade = 0.78 if k == 0 else 1.0
        o = (cx + dx, hip_y)
        ang = a_hip * side_dir if wide < 0.8 else a_hip * 0.5
        j, e = _chain(o, (ang, -knee * side_dir), (thigh, shin))
        _limb(pm, sh, o, j, leg_t, P_BOTTOM, shade)
        _limb(pm, sh, j, e, leg_t * 0.85, P_BOTTOM, shade)
        fl = 0.07 * H if wide < 0.8 else 0.04 * H
        _ellipse(pm, sh, (e[0] + side_dir * fl * 0.5, e[1]), (fl, 0.025 * H), P_SHOES, shade)
        feet.append(e)
    # torso (a long coat or dress covers the thighs sometimes)
    hem = yy(rng.uniform(0.62, 0.8)) if rng.random() < 0.25 else yy(0.56)
    torso = np.array(
        [
            [cx - sw, yy(0.185)],
            [cx + sw, yy(0.185)],
            [cx + hw * 1.1, hem],
            [cx - hw * 1.1, hem],
        ]
    )
    arm_len = (0.19 * H, 0.17 * H)
    arms = []
    for k, sgn in enumerate((-1.0, 1.0)):
        if pose == "raise" and k == 1:
            a = (np.pi - rng.uniform(0.2, 1.2)) * sgn, -rng.uniform(0.0, 1.2) * sgn
        elif pose == "carry" and k == 1:
            a = 0.12 * sgn, 0.0
        elif pose == "wide":
            a = rng.uniform(0.2, 0.7) * sgn, rng.uniform(0, 0.5) * sgn
        else:
            sw_a = -s if k == 0 else s
            a = sw_a * side_dir + 0.08 * sgn, abs(sw_a) * 0.6 * side_dir
        arms.append(a)
    # far arm behind the torso, near arm in front
    sx = [cx - sw * 0.85, cx + sw * 0.85]
    back = 0 if side_dir > 0 else 1
    order = [back, 1 - back]
    hands = {}
    for n, k in enumerate(order):
        if n == 1:
            _poly(pm, sh, torso, P_TOP, 1.0)
        o = (sx[k], yy(0.2))
        j, e = _chain(o, arms[k], arm_len)
        shade = 0.8 if n == 0 else 1.0
        sleeve = P_TOP if rng.random() < 0.7 else P_SKIN
        _limb(pm, sh, o, j, arm_t, P_TOP, shade)
        _limb(pm, sh, j, e, arm_t * 0.85, sleeve, shade)
        _ellipse(pm, sh, e, (arm_t * 0.55, arm_t * 0.6), P_SKIN, shade)
        hands[k] = e
    if pose == "carry":
        e = hands[1]
        bw, bh = rng.uniform(0.08, 0.16) * H, rng.uniform(0.1, 0.2) * H
        _poly(
            pm,
            sh,
            np.array(
                [
                    [e[0] - bw / 2, e[1]],
                    [e[0] + bw / 2, e[1]],
                    [e[0] + bw / 2, e[1] + bh],
                    [e[0] - bw / 2, e[1] + bh],
                ]
            ),
            P_BAG,
            0.9,
        )
    elif rng.random() < 0.25:  # backpack / shoulder bag on the torso outline
        bx = cx + side_dir * sw * (0.9 if wide < 0.7 else 0.0)
        _ellipse(pm, sh, (bx, yy(0.33)), (0.07 * H * build, 0.11 * H), P_BAG, 0.85)
    # neck and head (hair cap or hood)
    _limb(pm, sh, (cx, yy(0.13)), (cx, yy(0.19)), 0.05 * H, P_SKIN, 0.9)
    hx = cx + side_dir * (1 - wide) * 0.015 * H
    _ellipse(pm, sh, (hx, yy(0.068)), (0.05 * H, 0.064 * H), P_SKIN, 1.0)
    r_hair = rng.random()
    if r_hair < 0.85:
        a0 = 180 if r_hair < 0.6 else 150
        _ellipse(pm, sh, (hx, yy(0.064)), (0.053 * H, 0.066 * H), P_HAIR, 1.0, 0.0, a0, 360 + 180 - a0)
        if facing < 0.5 and rng.random() < 0.4:  # back view: hair covers the head
            _ellipse(pm, sh, (hx, yy(0.068)), (0.051 * H, 0.064 * H), P_HAIR, 1.0)
    # colours
    top_c = rng.uniform(0.05, 0.95, size=3) * (rng.uniform(0.3, 1.0) if rng.random() < 0.4 else 1.0)
    pal = np.zeros((7, 3), np.float32)
    pal[P_SKIN] = SKIN[rng.integers(len(SKIN))] / 255.0 * rng.uniform(0.9, 1.05)
    pal[P_HAIR] = HAIR[rng.integers(len(HAIR))] / 255.0
    pal[P_TOP] = top_c
    pal[P_BOTTOM] = (
        rng.uniform(0.05, 0.7, size=3)
        if rng.random() < 0.6
        else rng.uniform(0.05, 0.35) * np.array([0.8, 0.9, 1.3])
    )
    pal[P_SHOES] = rng.uniform(0.02, 0.6) * np.ones(3)
    pal[P_BAG] = rng.uniform(0.05, 0.8, size=3)
    rgb = pal[pm]
    tex = np.ones_like(sh)
    for part in (P_TOP, P_BOTTOM):
        m = pm == part
        if m.any():
            tex[m] = _texture(rng, pm.shape, photos)[m]
    # side lighting across the body
    xx = (np.arange(w_can, dtype=np.float32) - cx) / max(sw, 1.0)
    light = 1.0 + rng.uniform(-0.18, 0.18) * np.clip(xx, -1.5, 1.5)[None, :]
    rgb = rgb * (sh * tex * light)[..., None]
    alpha = (pm > 0).astype(np.float32)
    ow, oh = max(1, w_can // SS), max(1, h_can // SS)
    rgb_p = cv2.resize(np.ascontiguousarray(rgb * alpha[..., None]), (ow, oh), interpolation=cv2.INTER_AREA)
    alpha_s = cv2.resize(alpha, (ow, oh), interpolation=cv2.INTER_AREA)
    rgb_s = rgb_p / np.maximum(alpha_s[..., None], 1e-3)
    # crop to the feet: the lowest foot's row becomes the bottom row
    foot_y = max(f[1] for f in feet) + 0.025 * H
    bottom = min(oh, int(np.ceil(foot_y / SS)) + 1)
    return (
        np.clip(rgb_s[:bottom], 0, 1),
        alpha_s[:bottom],
        {"pose": pose, "facing": float(facing), "foot_x": cx / SS},
    )


def _blob_colour(rng: np.random.Generator) -> tuple[float, float, float]:
    return tuple(float(v) for v in rng.uniform(0.05, 0.9, size=3))


def draw_distractor(
    rng: np.random.Generator, img: np.ndarray, idmap: np.ndarray, x: float, foot_y: float, scale: float
) -> str:
    """Draw one non-person object standing at ``(x, foot_y)``; ``scale`` = a person's height there (px).

    Marks its pixels as -1 in ``idmap`` (so persons behind it count as occluded). Returns its kind.
    """
    kinds = (
        "pole",
        "lamp",
        "bin",
        "bag",
        "bollard",
        "hydrant",
        "tree",
        "dog",
        "bird",
        "board",
        "blob",
        "coat",
    )
    kind = kinds[rng.integers(len(kinds))]
    m = np.zeros(idmap.shape, np.uint8)
    c = _blob_colour(rng)
    s = scale
    X, Y = x, foot_y
    if kind in ("pole", "lamp"):
        w = max(1.5, s * rng.uniform(0.03, 0.09))
        top = Y - s * rng.uniform(1.1, 2.4)
        cv2.rectangle(m, _pt(X - w / 2, top), _pt(X + w / 2, Y), 1, -1, cv2.LINE_8, 4)
        if kind == "lamp":
            cv2.ellipse(m, _pt(X + w * 2, top), (int(w * 40), int(w * 16)), 0, 0, 360, 1, -1, cv2.LINE_8, 4)
    elif kind in ("bin", "bollard", "hydrant", "blob", "coat"):
        hgt = s * {"bin": 0.55, "bollard": 0.5, "hydrant": 0.45, "blob": 1.0, "coat": 0.95}[kind]
        hgt *= rng.uniform(0.8, 1.2)
        w = hgt * {"bin": 0.6, "bollard": 0.22, "hydrant": 0.45, "blob": 0.32, "coat": 0.3}[kind]
        w *= rng.uniform(0.8, 1.2)
        if kind == "blob":  # upright ellipse the size of a person (a "tall blob" that is no person)
            cv2.ellipse(m, _pt(X, Y - hgt / 2), (int(w * 8), int(hgt * 8)), 0, 0, 360, 1, -1, cv2.LINE_8, 4)
        else:
            cv2.rectangle(m, _pt(X - w / 2, Y - hgt * 0.9), _pt(X + w / 2, Y), 1, -1, cv2.LINE_8, 4)
            cv2.ellipse(
                m, _pt(X, Y - hgt * 0.9), (int(w * 8), int(hgt * 1.6)), 0, 0, 360, 1, -1, cv2.LINE_8, 4
            )
            if kind == "coat":  # coat stand: a hook bar at the top
                cv2.rectangle(m, _pt(X - w, Y - hgt), _pt(X + w, Y - hgt * 0.94), 1, -1, cv2.LINE_8, 4)
    elif kind == "bag":
        w, hgt = s * rng.uniform(0.15, 0.3), s * rng.uniform(0.12, 0.25)
        cv2.rectangle(m, _pt(X - w / 2, Y - hgt), _pt(X + w / 2, Y), 1, -1, cv2.LINE_8, 4)
        cv2.ellipse(
            m,
            _pt(X, Y - hgt),
            (int(w * 4), int(hgt * 6)),
            0,
            180,
            360,
            1,
            max(1, int(s * 0.02)),
            cv2.LINE_8,
            4,
        )
    elif kind == "tree":
        w = s * rng.uniform(0.06, 0.12)
        top = Y - s * rng.uniform(1.0, 1.6)
        cv2.rectangle(m, _pt(X - w / 2, top), _pt(X + w / 2, Y), 1, -1, cv2.LINE_8, 4)
        r = s * rng.uniform(0.35, 0.7)
        cv2.circle(m, _pt(X, top - r * 0.6), int(r * 16), 1, -1, cv2.LINE_8, 4)
        c = tuple(float(v) for v in rng.uniform([0.05, 0.2, 0.02], [0.3, 0.5, 0.2]))
    elif kind in ("dog", "bird"):
        k = 0.45 if kind == "dog" else 0.12
        L = s * k * rng.uniform(0.7, 1.3)
        d = 1 if rng.random() < 0.5 else -1
        body_y = Y - L * 0.55
        cv2.ellipse(m, _pt(X, body_y), (int(L * 8), int(L * 3.2)), 0, 0, 360, 1, -1, cv2.LINE_8, 4)
        cv2.circle(m, _pt(X + d * L * 0.55, body_y - L * 0.3), int(L * 3.5), 1, -1, cv2.LINE_8, 4)
        if kind == "dog":
            for fx in (-0.35, -0.2, 0.2, 0.35):
                cv2.line(
                    m,
                    _pt(X + fx * L, body_y),
                    _pt(X + fx * L * 1.1, Y),
                    1,
                    max(1, int(L * 0.1)),
                    cv2.LINE_8,
                    4,
                )
            cv2.line(
                m,
                _pt(X - d * L * 0.5, body_y),
                _pt(X - d * L * 0.75, body_y - L * 0.3),
                1,
                max(1, int(L * 0.06)),
                cv2.LINE_8,
                4,
            )
    elif kind == "board":  # sandwich board / sign on legs
        w, hgt = s * rng.uniform(0.3, 0.5), s * rng.uniform(0.4, 0.7)
        cv2.rectangle(m, _pt(X - w / 2, Y - hgt), _pt(X + w / 2, Y - hgt * 0.3), 1, -1, cv2.LINE_8, 4)
        for fx in (-0.4, 0.4):
            cv2.line(
                m, _pt(X + fx * w, Y - hgt * 0.3), _pt(X + fx * w, Y), 1, max(1, int(w * 0.06)), cv2.LINE_8, 4
            )
    sel = m > 0
    shade = rng.uniform(0.7, 1.1)
    img[sel] = np.asarray(c, np.float32) * shade
    idmap[sel] = -1
    return kind


def draw_occluder(
    rng: np.random.Generator,
    img: np.ndarray,
    idmap: np.ndarray,
    x0: float,
    x1: float,
    top: float,
    bottom: float,
    photos: tuple[np.ndarray, ...],
) -> None:
    """A low foreground object (car body, wall, bench, planter) covering ``[x0, x1] × [top, bottom]``."""
    h, w = idmap.shape
    xa, xb = int(max(0, np.floor(x0))), int(min(w, np.ceil(x1)))
    ya, yb = int(max(0, np.floor(top))), int(min(h, np.ceil(bottom)))
    if xb <= xa or yb <= ya:
        return
    patch = np.empty((yb - ya, xb - xa, 3), np.float32)
    if rng.random() < 0.5:
        im = photos[rng.integers(len(photos))]
        crop = im[: max(2, min(im.shape[0], (yb - ya) * 3)), : max(2, min(im.shape[1], (xb - xa) * 3))]
        patch[:] = (
            cv2.resize(crop, (xb - xa, yb - ya), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
        )
    else:
        patch[:] = np.asarray(_blob_colour(rng), np.float32)
        patch *= np.linspace(1.1, 0.8, yb - ya, dtype=np.float32)[:, None, None]
    kind = rng.integers(3)
    if kind == 0 and yb - ya > 4:  # car-like: rounded top corners, darker windows band
        k = (yb - ya) // 4
        patch[:k] *= 0.45
    img[ya:yb, xa:xb] = patch
    idmap[ya:yb, xa:xb] = -1


__all__ = ["draw_distractor", "draw_occluder", "draw_person"]
