"""Real photographs for parity checks, tests and benchmarks, from scikit-image's bundled data.

No download happens: these images ship inside the scikit-image wheel.
"""

from __future__ import annotations

import cv2
import numpy as np

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "hubble_deep_field")


def photo(name: str) -> np.ndarray:
    """One bundled photo as ``(H, W, 3)`` uint8 RGB."""
    import skimage.data

    img = getattr(skimage.data, name)()
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    return np.ascontiguousarray(img[..., :3])


def photo_batch(n: int = 4, size: tuple[int, int] = (224, 224)) -> np.ndarray:
    """``n`` photos resized (area interpolation) to ``size`` as float32 ``(n, 3, H, W)`` in [0, 1].

    Values are multiples of 1/255, as they are for real camera frames.
    """
    out = []
    for i in range(n):
        img = photo(PHOTOS[i % len(PHOTOS)])
        if i >= len(PHOTOS):  # more than we have: use flipped variants so images stay distinct
            img = img[:, ::-1] if (i // len(PHOTOS)) % 2 else img[::-1]
        img = cv2.resize(np.ascontiguousarray(img), (size[1], size[0]), interpolation=cv2.INTER_AREA)
        out.append(img.transpose(2, 0, 1))
    return (np.stack(out).astype(np.float32) / 255.0) if out else np.zeros((0, 3, *size), np.float32)
