"""``yolo:PATH``: a YOLO-layout folder read offline; data.yaml with and without PyYAML; bad files."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from edgeguard.data import yolo
from edgeguard.errors import ConfigError, InputError

YAMLS = [
    "path: .\ntrain: images/train\nval: images/val\nnames:\n  0: person\n  1: car\n",
    "val: images/val  # validation\nnc: 2\nnames: [person, car]\n",
    "names:\n  - person\n  - car\n",
    "names: ['person', 'car']\n",
]


def _dataset(root: Path, data_yaml: str) -> Path:
    (root / "images" / "val").mkdir(parents=True)
    (root / "labels" / "val").mkdir(parents=True)
    (root / "data.yaml").write_text(data_yaml)
    cv2.imwrite(str(root / "images" / "val" / "a.png"), np.zeros((100, 200, 3), np.uint8))
    cv2.imwrite(str(root / "images" / "val" / "b.png"), np.zeros((50, 50, 3), np.uint8))  # background
    (root / "labels" / "val" / "a.txt").write_text("0 0.5 0.5 0.2 0.4\n1 0.1 0.2 0.1 0.2\n\n")
    return root


@pytest.mark.parametrize("text", YAMLS)
def test_subset_parser_reads_what_pyyaml_reads(text: str) -> None:
    ours = yolo.parse_yaml_subset(text)
    theirs = yaml.safe_load(text)
    assert yolo.names_from(ours, "x") == yolo.names_from(theirs, "x") == ("person", "car")
    assert {k: v for k, v in ours.items() if k != "names"} == {
        k: v for k, v in theirs.items() if k != "names"
    }


@pytest.mark.parametrize("text", YAMLS)
def test_boxes_in_pixels(tmp_path: Path, text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    ds = yolo.from_spec(f"yolo:{_dataset(tmp_path, text)}")
    assert len(ds) == 2 and ds.names == ("person", "car")
    a = ds[0]
    # 0.5 0.5 0.2 0.4 on a 200x100 image: centre (100, 50), 40 x 40 px
    assert a.classes.tolist() == [0, 1] and a.image.shape == (100, 200, 3)
    assert a.boxes.tolist() == [[80.0, 30.0, 120.0, 70.0], [10.0, 10.0, 30.0, 30.0]]
    assert ds[1].boxes.shape == (0, 4) and ds[1].classes.shape == (0,)
    monkeypatch.setitem(__import__("sys").modules, "yaml", None)  # the runtime install: no PyYAML
    assert yolo.YoloDataset(tmp_path).names == ("person", "car")


def test_bad_datasets(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no data.yaml"):
        yolo.from_spec(f"yolo:{tmp_path}")
    with pytest.raises(ConfigError, match="expected yolo:PATH"):
        yolo.from_spec("folder:x")
    root = _dataset(tmp_path / "d", "names: [person, car]\n")
    (root / "labels" / "val" / "a.txt").write_text("0 0.5 0.5 0.2 0.4\n7 0.1 0.2 0.1 0.2\n")
    with pytest.raises(InputError, match=r"a.txt line 2: expected 'class cx cy w h' with class 0..1"):
        yolo.YoloDataset(root)[0]
    (root / "labels" / "val" / "a.txt").write_text("0 0.5 1.5 0.2 0.4\n")
    with pytest.raises(InputError, match="a.txt line 1"):
        yolo.YoloDataset(root)[0]
    (root / "data.yaml").write_text("names: {}\n")
    with pytest.raises(ConfigError, match="'names' must be"):
        yolo.YoloDataset(root)
    (root / "data.yaml").write_text("names: [person, car]\n")
    for p in (root / "images" / "val").iterdir():
        p.unlink()
    with pytest.raises(ConfigError, match="no images for split 'val'"):
        yolo.YoloDataset(root)


def test_preview_draws_the_labelled_boxes(tmp_path: Path, cli) -> None:
    root = _dataset(tmp_path / "d", "names: [person, car]\n")
    sheet = yolo.contact_sheet(yolo.YoloDataset(root), n=2, size=100, cols=2)
    assert sheet.shape == (104, 208, 3)
    # frame a (200x100) letterboxed into 100x100: gain 0.5, 25 px of padding on top; the person box
    # [80, 30, 120, 70] lands at [40, 40, 60, 60] of the tile, whose top-left is (2, 2) in the sheet
    assert tuple(sheet[2 + 50, 2 + 40]) == (0, 220, 0) and tuple(sheet[2 + 50, 2 + 60]) == (0, 220, 0)
    assert tuple(sheet[2 + 10, 2 + 50]) == (114, 114, 114)  # padding
    out = tmp_path / "sheet.png"
    r = cli("data", "preview", f"yolo:{root}", "--out", str(out), "--per-class", "2")
    assert r.returncode == 0, r.stderr
    assert cv2.imread(str(out)).shape == (324, 648, 3)
    r = cli("data", "preview", f"yolo:{tmp_path / 'missing'}", "--out", str(tmp_path / "x.png"))
    assert r.returncode == 2 and "no data.yaml" in r.stderr and not (tmp_path / "x.png").exists()
