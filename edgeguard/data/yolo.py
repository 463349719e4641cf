"""``yolo:PATH`` — a user's own labelled frames in the YOLO dataset layout, read offline.

The layout Ultralytics and most labelling tools export::

    PATH/data.yaml          names (a list, or a mapping 0: person …), optional path/train/val/test
    PATH/images/<split>/*.jpg   (or PATH/images/*.jpg)
    PATH/labels/<split>/*.txt   one line per box: class cx cy w h, normalised to 0..1

``data.yaml`` is read with PyYAML when it is installed; the runtime install does not carry it, so the
small subset such files use (``key: value`` lines, ``[a, b]`` and ``- a`` lists, an indented
``0: name`` mapping, comments) is parsed here otherwise. An image without a label file has no boxes
(YOLO's convention for background frames). Boxes come back in pixels, ``x1, y1, x2, y2``.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, InputError
from ..preprocess import load_image

# As data/local.py (not imported from there: it brings torch, and this loader needs only numpy/cv2)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".ppm", ".bmp", ".webp", ".tif", ".tiff")


@dataclass
class Labelled:
    """One frame: BGR uint8 image, boxes ``(N, 4)`` xyxy pixels, class indices ``(N,)``, its path."""

    image: np.ndarray
    boxes: np.ndarray
    classes: np.ndarray
    path: Path


def _scalar(text: str) -> Any:
    text = text.strip()
    if not text:
        return None
    if text[0] in "[{'\"" or text.lstrip("-").replace(".", "", 1).isdigit():
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError):
            pass
    if text.startswith("[") and text.endswith("]"):  # [person, car]: unquoted YAML flow list
        return [v.strip().strip("'\"") for v in text[1:-1].split(",") if v.strip()]
    return text.strip("'\"")


def parse_yaml_subset(text: str, where: str = "data.yaml") -> dict[str, Any]:
    """The ``data.yaml`` subset: top-level ``key: value``, block lists and one-level mappings."""
    out: dict[str, Any] = {}
    key: str | None = None
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split(" #")[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if not line.strip():
            continue
        if not line[0].isspace() and not line.startswith("-"):
            if ":" not in line:
                raise ConfigError(f"{where} line {n}: expected 'key: value', got {line.strip()[:60]!r}")
            key, _, value = line.partition(":")
            key = key.strip()
            out[key] = _scalar(value)
            continue
        item = line.strip()
        if key is None:
            raise ConfigError(f"{where} line {n}: an indented line before any key")
        if item.startswith("- "):
            if out[key] is None:
                out[key] = []
            if not isinstance(out[key], list):
                raise ConfigError(f"{where} line {n}: a list item under {key!r}, which has a value")
            out[key].append(_scalar(item[2:]))
        elif ":" in item:
            k, _, v = item.partition(":")
            mapping = out[key] if isinstance(out[key], dict) else {}
            mapping[_scalar(k)] = _scalar(v)
            out[key] = mapping
        else:
            raise ConfigError(f"{where} line {n}: cannot read {item[:60]!r}")
    return out


def read_data_yaml(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    try:
        import yaml  # type: ignore[import-untyped]
    except ModuleNotFoundError:
        return parse_yaml_subset(text, path.name)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path.name}: not valid YAML ({str(exc).splitlines()[0][:100]})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path.name}: expected a mapping with names")
    return data


def names_from(data: dict[str, Any], where: str) -> tuple[str, ...]:
    names = data.get("names")
    if isinstance(names, dict) and names and sorted(names) == list(range(len(names))):
        return tuple(str(names[i]) for i in range(len(names)))
    if isinstance(names, list) and names:
        return tuple(str(v) for v in names)
    raise ConfigError(f"{where}: 'names' must be a list of class names or a mapping 0: name, 1: name …")


class YoloDataset:
    """Frames and boxes of one split of a YOLO-layout folder (``val`` by default, as data.yaml names it).

    Raises:
        ConfigError: no data.yaml, no names, no images for the split (naming what was looked for).
    """

    def __init__(self, root: str | Path, split: str = "val") -> None:
        self.root = Path(root)
        yml = self.root / "data.yaml"
        if not yml.is_file():
            raise ConfigError(
                f"yolo:{root}: no data.yaml in that folder (expected data.yaml, images/, labels/)"
            )
        data = read_data_yaml(yml)
        self.names = names_from(data, "data.yaml")
        base = self.root / str(data["path"]) if isinstance(data.get("path"), str) else self.root
        if not base.is_dir():
            base = self.root
        rel = data.get(split)
        candidates = [base / str(rel)] if isinstance(rel, str) else []
        candidates += [base / "images" / split, base / "images"]
        folder = next((c for c in candidates if c.is_dir() and _images(c)), None)
        if folder is None:
            looked = ", ".join(
                str(c.relative_to(self.root)) if c.is_relative_to(self.root) else str(c) for c in candidates
            )
            raise ConfigError(f"yolo:{root}: no images for split {split!r} (looked in {looked})")
        self.images = _images(folder)

    def __len__(self) -> int:
        return len(self.images)

    def label_path(self, image: Path) -> Path:
        """``…/images/val/a.jpg`` → ``…/labels/val/a.txt`` (the last ``images`` folder becomes ``labels``)."""
        parts = list(image.parts)
        i = len(parts) - 1 - parts[::-1].index("images") if "images" in parts else None
        if i is None:
            return image.with_suffix(".txt")
        parts[i] = "labels"
        return Path(*parts).with_suffix(".txt")

    def __getitem__(self, index: int) -> Labelled:
        path = self.images[index]
        img = load_image(path)
        h, w = img.shape[:2]
        rows = self.read_labels(self.label_path(path))
        cls = rows[:, 0].astype(np.int64)
        cx, cy, bw, bh = rows[:, 1] * w, rows[:, 2] * h, rows[:, 3] * w, rows[:, 4] * h
        boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1).astype(np.float32)
        return Labelled(img, boxes.reshape(-1, 4), cls, path)

    def read_labels(self, path: Path) -> np.ndarray:
        """``(N, 5)`` rows ``class cx cy w h``; InputError naming file and line for a bad one."""
        if not path.is_file():
            return np.zeros((0, 5), np.float64)
        rows = []
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            parts = line.split()
            try:
                vals = [float(v) for v in parts[:5]]
            except ValueError:
                vals = []
            ok = (
                len(parts) == 5 and len(vals) == 5 and vals[0].is_integer() and 0 <= vals[0] < len(self.names)
            )
            if not ok or not all(0.0 <= v <= 1.0 for v in vals[1:]):
                raise InputError(
                    f"{path.name} line {n}: expected 'class cx cy w h' with class 0..{len(self.names) - 1} "
                    f"and coordinates in 0..1, got {line.strip()[:60]!r}"
                )
            rows.append(vals)
        return np.asarray(rows, np.float64).reshape(-1, 5)


def contact_sheet(ds: YoloDataset, n: int = 12, size: int = 320, cols: int = 4) -> np.ndarray:
    """The first ``n`` frames letterboxed to ``size``², their labelled boxes and class names drawn; RGB."""
    import cv2

    from ..letterbox import letterbox, letterbox_geometry

    if n < 1 or size < 32:
        raise ConfigError(f"yolo preview: n must be >= 1 and size >= 32, got {n}, {size}")
    n = min(n, len(ds))
    rows = -(-n // cols)
    sheet = np.full((rows * (size + 4), min(n, cols) * (size + 4), 3), 255, np.uint8)
    for i in range(n):
        item = ds[i]
        tile = letterbox(item.image, (size, size))
        geo = letterbox_geometry(item.image.shape[:2], (size, size))
        for box, c in zip(geo.to_input(item.boxes).round().astype(int), item.classes):
            cv2.rectangle(tile, (int(box[0]), int(box[1])), (int(box[2]), int(box[3])), (0, 220, 0), 2)
            cv2.putText(tile, ds.names[c][:20], (int(box[0]), max(12, int(box[1]) - 3)),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 220, 0), 1, cv2.LINE_AA)  # fmt: skip
        y, x = (i // cols) * (size + 4) + 2, (i % cols) * (size + 4) + 2
        sheet[y : y + size, x : x + size] = tile[..., ::-1]
    return sheet


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def from_spec(spec: str, split: str = "val") -> YoloDataset:
    """``yolo:PATH`` → :class:`YoloDataset` (ConfigError for another scheme)."""
    if not spec.startswith("yolo:") or not spec[5:]:
        raise ConfigError(f"--data {spec!r}: expected yolo:PATH (a folder with data.yaml, images/, labels/)")
    return YoloDataset(spec[5:], split)


__all__ = [
    "Labelled",
    "YoloDataset",
    "contact_sheet",
    "from_spec",
    "names_from",
    "parse_yaml_subset",
    "read_data_yaml",
]
