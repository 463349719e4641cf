"""Local dataset loaders: GTSRB official layout (train folders + test CSV) and image folders."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edgeguard.data import GTSRB, GTSRB_LABELS, LABELS, ImageFolder
from edgeguard.errors import ConfigError

HEADER = "Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId\n"


def _ppm(path, h=40, w=36, colour=(0, 0, 200)) -> None:
    img = np.zeros((h, w, 3), np.uint8)
    img[5:-5, 5:-5] = colour
    cv2.imwrite(str(path), img)


@pytest.fixture
def gtsrb(tmp_path):
    root = tmp_path / "GTSRB"
    for cls in (14, 40):
        d = root / "Final_Training" / "Images" / f"{cls:05d}"
        d.mkdir(parents=True)
        lines = [HEADER]
        for k in range(3):
            _ppm(d / f"00000_{k:05d}.ppm")
            lines.append(f"00000_{k:05d}.ppm;36;40;5;5;30;34;{cls}\n")
        (d / f"GT-{cls:05d}.csv").write_text("".join(lines))
    t = root / "Final_Test" / "Images"
    t.mkdir(parents=True)
    rows = [HEADER]
    for k, cls in enumerate((14, 1, 40)):
        _ppm(t / f"{k:05d}.ppm")
        rows.append(f"{k:05d}.ppm;36;40;5;5;30;34;{cls}\n")
    (root / "Final_Test" / "GT-final_test.csv").write_text("".join(rows))
    return root


def test_gtsrb_train_and_test(gtsrb) -> None:
    tr = GTSRB(gtsrb, "train", size=32)
    assert len(tr) == 6 and tr.labels == list(GTSRB_LABELS) and len(tr.labels) == 43
    x, y = tr[0]
    assert x.shape == (3, 32, 32) and y == 14
    xs, ys = GTSRB(gtsrb.parent, "train", size=32, crop=True).arrays()  # parent of GTSRB/ works too
    assert xs.shape == (6, 32, 32, 3) and sorted(set(ys.tolist())) == [14, 40]
    assert xs[0, 16, 16, 0] > 150  # BGR (0,0,200) on disk → red in RGB, ROI crop keeps the centre
    te = GTSRB(gtsrb, "test", size=32)
    assert [te[i][1] for i in range(3)] == [14, 1, 40]
    mapped = GTSRB(gtsrb, "test", to_signs=True)
    assert len(mapped) == 2 and mapped.labels == list(LABELS)  # class 40 (roundabout) has no match
    assert [mapped[i][1] for i in range(2)] == [0, LABELS.index("speed limit 30")]


def test_gtsrb_wrong_layout_says_what_is_expected(tmp_path, gtsrb) -> None:
    with pytest.raises(ConfigError, match="Final_Training/Images/000NN"):
        GTSRB(tmp_path / "missing", "train")
    (tmp_path / "flat").mkdir()
    _ppm(tmp_path / "flat" / "a.ppm")
    with pytest.raises(ConfigError, match="Final_Training/Images/000NN"):
        GTSRB(tmp_path / "flat", "train")
    (gtsrb / "Final_Test" / "GT-final_test.csv").unlink()
    with pytest.raises(ConfigError, match="GT-final_test.csv"):
        GTSRB(gtsrb, "test")
    (gtsrb / "Final_Training" / "Images" / "00014" / "GT-00014.csv").unlink()
    with pytest.raises(ConfigError, match="lacks GT-00014.csv"):
        GTSRB(gtsrb, "train")
    with pytest.raises(ConfigError, match="split"):
        GTSRB(gtsrb, "val")


def test_image_folder_errors(tmp_path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        ImageFolder(tmp_path / "missing")
    (tmp_path / "empty" / "cls").mkdir(parents=True)
    with pytest.raises(ConfigError, match="<class name>"):
        ImageFolder(tmp_path / "empty")


def test_corrupt_image_in_a_folder_is_one_quiet_input_error(tmp_path, capfd):
    from edgeguard.errors import InputError

    d = tmp_path / "imgs" / "cat"
    d.mkdir(parents=True)
    ok, buf = cv2.imencode(".png", np.zeros((20, 20, 3), np.uint8))
    (d / "broken.png").write_bytes(buf.tobytes()[: buf.size // 2])
    ds = ImageFolder(tmp_path / "imgs", size=16)
    with pytest.raises(InputError, match="broken.png is not an image OpenCV can decode"):
        ds[0]
    assert capfd.readouterr().err == ""  # OpenCV's "PNG input buffer is incomplete" stayed quiet
