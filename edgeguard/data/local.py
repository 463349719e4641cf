"""Loaders for real images the user already has on disk: GTSRB (official layout) and image folders.

Paths only: nothing is ever downloaded. A wrong layout raises :class:`ConfigError` saying what was
expected. Items are ``(float32 tensor (3, size, size) in [0, 1] RGB, int label)`` like
:class:`~edgeguard.data.dataset.SignDataset`.
"""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import ConfigError
from ..preprocess import load_image
from .templates import CLASSES, LABELS

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".ppm", ".bmp", ".webp", ".tif", ".tiff")
GTSRB_LABELS: tuple[str, ...] = (
    "speed limit 20",
    "speed limit 30",
    "speed limit 50",
    "speed limit 60",
    "speed limit 70",
    "speed limit 80",
    "end of speed limit 80",
    "speed limit 100",
    "speed limit 120",
    "no passing",
    "no passing for vehicles over 3.5 t",
    "right-of-way at the next intersection",
    "priority road",
    "yield",
    "stop",
    "no vehicles",
    "vehicles over 3.5 t prohibited",
    "no entry",
    "general caution",
    "dangerous curve to the left",
    "dangerous curve to the right",
    "double curve",
    "bumpy road",
    "slippery road",
    "road narrows on the right",
    "road work",
    "traffic signals",
    "pedestrians",
    "children crossing",
    "bicycles crossing",
    "beware of ice/snow",
    "wild animals crossing",
    "end of all speed and passing limits",
    "turn right ahead",
    "turn left ahead",
    "ahead only",
    "go straight or right",
    "go straight or left",
    "keep right",
    "keep left",
    "roundabout mandatory",
    "end of no passing",
    "end of no passing by vehicles over 3.5 t",
)
# GTSRB class id → edgeguard class index, for the signs both know (GTSRB's "pedestrians" is a warning
# triangle, not the blue crossing sign; GTSRB has no "no parking").
GTSRB_TO_SIGNS: dict[int, int] = {
    14: CLASSES.index("stop"),
    13: CLASSES.index("yield"),
    17: CLASSES.index("no_entry"),
    1: CLASSES.index("speed_limit_30"),
    2: CLASSES.index("speed_limit_50"),
    3: CLASSES.index("speed_limit_60"),
    5: CLASSES.index("speed_limit_80"),
    12: CLASSES.index("priority_road"),
    38: CLASSES.index("keep_right"),
    34: CLASSES.index("turn_left_ahead"),
    33: CLASSES.index("turn_right_ahead"),
}
_TRAIN_LAYOUT = "Final_Training/Images/000NN/*.ppm with GT-000NN.csv in each class folder"
_TEST_LAYOUT = "Final_Test/Images/*.ppm plus the labelled GT-final_test.csv (from GTSRB_Final_Test_GT.zip)"


def _read_rgb(path: Path) -> np.ndarray:
    # load_image checks the header's size first, keeps libpng/OpenCV warnings off the terminal and
    # raises an InputError naming the file
    return cv2.cvtColor(load_image(path), cv2.COLOR_BGR2RGB)


class _Files(Dataset):
    """Shared item logic: a list of (file, label, optional ROI) read and resized on demand."""

    labels: list[str]

    def __init__(self, items: list[tuple[Path, int, tuple[int, int, int, int] | None]], size: int) -> None:
        self.items, self.size = items, int(size)

    def __len__(self) -> int:
        return len(self.items)

    def image(self, index: int) -> np.ndarray:
        """uint8 ``(size, size, 3)`` RGB of item ``index`` (cropped to its ROI when known)."""
        path, _, roi = self.items[index]
        img = _read_rgb(path)
        if roi is not None:
            x1, y1, x2, y2 = roi
            if 0 <= x1 < x2 <= img.shape[1] and 0 <= y1 < y2 <= img.shape[0]:
                img = img[y1:y2, x1:x2]
        interp = cv2.INTER_AREA if min(img.shape[:2]) > self.size else cv2.INTER_LINEAR
        return cv2.resize(img, (self.size, self.size), interpolation=interp)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return torch.from_numpy(self.image(index)).permute(2, 0, 1).float().div_(255.0), self.items[index][1]

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """All items in memory: uint8 ``(N, size, size, 3)`` and int64 labels."""
        x = (
            np.stack([self.image(i) for i in range(len(self))])
            if self.items
            else np.zeros((0, self.size, self.size, 3), np.uint8)
        )
        return x, np.array([it[1] for it in self.items], dtype=np.int64)


def _gt_rows(csv_path: Path) -> list[dict[str, str]]:
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f, delimiter=";"))
    if rows and "Filename" not in rows[0]:
        raise ConfigError(
            f"{csv_path}: not a GTSRB annotation file (expected ';'-separated columns "
            f"Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId)"
        )
    return rows


def _roi(row: dict[str, str]) -> tuple[int, int, int, int] | None:
    try:
        return int(row["Roi.X1"]), int(row["Roi.Y1"]), int(row["Roi.X2"]) + 1, int(row["Roi.Y2"]) + 1
    except (KeyError, ValueError):
        return None


class GTSRB(_Files):
    """The German Traffic Sign Recognition Benchmark from a local copy (official archive layout).

    Args:
        root: the extracted folder: ``GTSRB/`` (or its parent, or the ``Images`` folder itself).
            ``split="train"`` needs ``Final_Training/Images/000NN/*.ppm`` + ``GT-000NN.csv``;
            ``split="test"`` needs ``Final_Test/Images/*.ppm`` and ``GT-final_test.csv`` (the labelled
            file from ``GTSRB_Final_Test_GT.zip``; searched in root, Final_Test and Images).
        split: ``"train"`` or ``"test"``.
        size: output side; images are cropped to the annotated ROI when ``crop`` and resized.
        to_signs: keep only the classes edgeguard's renderer also has, labelled with edgeguard's
            class indices (to evaluate the shipped models on real photos).

    Raises:
        ConfigError: the folder does not have the expected layout (the message says which).
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        size: int = 64,
        crop: bool = False,
        to_signs: bool = False,
    ) -> None:
        root = Path(root).expanduser()
        if not root.is_dir():
            raise ConfigError(f"GTSRB root {str(root)!r} is not a folder (expected {_TRAIN_LAYOUT})")
        if split not in ("train", "test"):
            raise ConfigError(f"GTSRB split must be 'train' or 'test', got {split!r}")
        rows = self._train(root) if split == "train" else self._test(root)
        items = []
        for path, label, roi in rows:
            if to_signs:
                if label not in GTSRB_TO_SIGNS:
                    continue
                label = GTSRB_TO_SIGNS[label]
            items.append((path, label, roi if crop else None))
        super().__init__(items, size)
        self.labels = list(LABELS) if to_signs else list(GTSRB_LABELS)

    @staticmethod
    def _train(root: Path) -> list[tuple[Path, int, tuple[int, int, int, int] | None]]:
        cands = [root / "Final_Training" / "Images", root / "GTSRB" / "Final_Training" / "Images", root]
        images = next((c for c in cands if c.is_dir() and any(c.glob("000[0-9][0-9]"))), None)
        if images is None:
            raise ConfigError(f"{str(root)!r} is not a GTSRB training folder: expected {_TRAIN_LAYOUT}")
        out = []
        for d in sorted(images.glob("000[0-9][0-9]")):
            gt = d / f"GT-{d.name}.csv"
            if not gt.is_file():
                raise ConfigError(f"GTSRB class folder {str(d)!r} lacks {gt.name} (expected {_TRAIN_LAYOUT})")
            cls = int(d.name)
            out += [(d / r["Filename"], int(r.get("ClassId", cls) or cls), _roi(r)) for r in _gt_rows(gt)]
        return out

    @staticmethod
    def _test(root: Path) -> list[tuple[Path, int, tuple[int, int, int, int] | None]]:
        cands = [root / "Final_Test" / "Images", root / "GTSRB" / "Final_Test" / "Images", root]
        images = next((c for c in cands if c.is_dir() and any(c.glob("*.ppm"))), None)
        if images is None:
            raise ConfigError(f"{str(root)!r} is not a GTSRB test folder: expected {_TEST_LAYOUT}")
        gts = [p / "GT-final_test.csv" for p in (root, images, images.parent, root / "GTSRB")]
        gt = next((p for p in gts if p.is_file()), None)
        if gt is None:
            raise ConfigError(
                f"GTSRB test images found in {str(images)!r} but no labelled GT-final_test.csv "
                f"(GT-final_test.test.csv has no ClassId); expected {_TEST_LAYOUT}"
            )
        rows = _gt_rows(gt)
        if rows and "ClassId" not in rows[0]:
            raise ConfigError(f"{gt}: has no ClassId column; expected {_TEST_LAYOUT}")
        return [(images / r["Filename"], int(r["ClassId"]), _roi(r)) for r in rows]


class ImageFolder(_Files):
    """``root/<class name>/<images>`` (torchvision ImageFolder layout); classes in sorted name order.

    Raises:
        ConfigError: root missing or without class subfolders holding images.
    """

    def __init__(self, root: str | Path, size: int = 64) -> None:
        root = Path(root).expanduser()
        layout = f"{root}/<class name>/<image files {', '.join(IMAGE_SUFFIXES[:4])} …>"
        if not root.is_dir():
            raise ConfigError(f"image folder {str(root)!r} does not exist (expected {layout})")
        classes = []
        items: list[tuple[Path, int, tuple[int, int, int, int] | None]] = []
        for d in sorted(p for p in root.iterdir() if p.is_dir()):
            files = sorted(f for f in d.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
            if files:
                items += [(f, len(classes), None) for f in files]
                classes.append(d.name)
        if not classes:
            raise ConfigError(
                f"image folder {str(root)!r} has no class subfolders with images (expected {layout})"
            )
        super().__init__(items, size)
        self.labels = classes
