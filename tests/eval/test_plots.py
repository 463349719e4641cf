"""The evaluation plots: what each line shows, the Pareto front, and the PNG files."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import numpy as np
import pytest

from edgeguard.errors import ConfigError
from edgeguard.eval import plots, report

from .results_fixture import EPS, PGD, results


def test_pareto_front_hand_worked() -> None:
    points = [
        (1.0, 0.2),  # 0 A: fastest
        (2.0, 0.5),  # 1 B
        (3.0, 0.4),  # 2 C: slower and worse than B
        (4.0, 0.9),  # 3 D: most accurate
        (2.0, 0.3),  # 4 E: as fast as B, worse
        (1.0, 0.1),  # 5 F: as fast as A, worse
        (5.0, 0.9),  # 6 G: as accurate as D, slower
        (4.0, 0.9),  # 7 H: equal to D: equal points are both kept
        (float("nan"), 1.0),  # 8: no latency measured, never on the front
    ]
    assert plots.pareto_front(points) == [0, 1, 3, 7]
    assert plots.pareto_front([]) == []
    assert plots.pareto_front([(3.0, 0.0)]) == [0]


def _lines(ax) -> dict[str, object]:
    return {line.get_label(): line for line in ax.get_lines()}


def test_accuracy_vs_eps_naive_dashed_adaptive_solid_one_colour_per_config() -> None:
    fig = plots.accuracy_vs_eps(results())
    ax = next(a for a in fig.axes if a.get_title() == "pgd:steps=20")
    lines = _lines(ax)
    naive, adaptive = lines["demo (naive)"], lines["demo (adaptive)"]
    np.testing.assert_allclose(adaptive.get_xdata(), [2, 4, 8, 16])
    np.testing.assert_allclose(adaptive.get_ydata(), [100 * k / 500 for k in PGD["demo"][1]])
    np.testing.assert_allclose(naive.get_ydata(), [100 * k / 500 for k in PGD["demo"][0]])
    assert (naive.get_linestyle(), adaptive.get_linestyle()) == ("--", "-")
    assert naive.get_color() == adaptive.get_color() != lines["signs (adaptive)"].get_color()
    # fgsm ran at three ε only; the minimal attack (no ε) has no panel here
    fgsm = next(a for a in fig.axes if a.get_title() == "fgsm")
    assert len(_lines(fgsm)["demo (naive)"].get_xdata()) == 3
    assert not any(a.get_title().startswith("deepfool") for a in fig.axes)


def test_accuracy_vs_l2_uses_the_measured_norm() -> None:
    data = results()
    fig = plots.accuracy_vs_l2(data)
    line = _lines(fig.axes[0])["demo · pgd:steps=20 (adaptive)"]
    key = ("demo", "pgd:steps=20", "adaptive", "")  # the grid's own cells, not the sanity probes
    want = [r["norm_l2"] for r in data["records"] if (r["config"], r["attack"], r["mode"], r["extra"]) == key]
    assert len(want) == 4
    np.testing.assert_allclose(line.get_xdata(), want)
    assert "demo · deepfool:steps=50 (naive)" in _lines(fig.axes[0])  # minimal attacks on the same axis


def test_latency_points_and_front_per_eps() -> None:
    data = results()
    panels = plots.latency_points(data)
    assert list(panels) == [("linf", e) for e in EPS]
    pts = panels[("linf", 8 / 255)]
    worst = {
        r["config"]: r["robust_accuracy"]
        for r in data["records"]
        if r["mode"] == "worst" and r["eps"] == 8 / 255
    }
    assert pts == [
        ("signs", 0.523, worst["signs"]),
        ("demo", 1.113, worst["demo"]),
        ("user-tvm", 38.86, worst["user-tvm"]),
    ]
    # demo is slower than the bare model and less robust in the worst case: off the front
    assert plots.pareto_front([(lat, acc) for _, lat, acc in pts]) == [0, 2]
    fig = plots.accuracy_vs_latency(data)
    step = _lines(fig.axes[2])["Pareto front"]
    np.testing.assert_allclose(step.get_xdata(), [0.523, 38.86])


def test_no_worst_records_falls_back_to_the_lowest_adaptive_number() -> None:
    data = results()
    data["records"] = [r for r in data["records"] if r["mode"] != "worst"]
    pts = dict((n, acc) for n, _, acc in plots.latency_points(data)[("linf", 8 / 255)])
    assert pts["demo"] == min(50 / 500, 95 // 5 / 100)  # pgd adaptive vs fgsm adaptive (n = 100)


def _png_size(path: Path) -> tuple[int, int]:
    raw = path.read_bytes()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n" and raw[12:16] == b"IHDR"
    return struct.unpack(">II", raw[16:24])


@pytest.mark.slow
def test_report_writes_valid_pngs_and_links_them(tmp_path: Path) -> None:
    import matplotlib.image

    data = results()
    path = report.write_report(data, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["report.md", *plots.PLOTS])  # no temps
    text = path.read_text(encoding="utf-8")
    for name in plots.PLOTS:
        png = tmp_path / name
        w, h = _png_size(png)
        assert 300 <= w <= 2000 and 300 <= h <= 2000, (name, w, h)
        assert 10_000 < png.stat().st_size < 2_000_000
        rgba = np.ascontiguousarray(np.rint(matplotlib.image.imread(png) * 255).astype(np.uint8))
        assert rgba.shape == (h, w, 4)
        assert len(np.unique(rgba.view(np.uint32))) > 50  # drawn (lines, text, antialiasing), not blank
        assert f"]({name})" in text


def test_no_detector_no_roc(tmp_path: Path) -> None:
    data = results()
    for c in data["configs"]:
        c["detector"] = None
    assert plots.roc(data) is None
    assert "roc.png" not in plots.figures(data)


def test_missing_matplotlib_is_one_line_naming_the_extra(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import now raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'edgeguard\[eval\]'"):
        report.write_report(results(), tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing written, not even the folder
    assert report.write_report(results(), tmp_path / "out", plots=False).is_file()


def test_sanity_extra_cells_stay_out_of_the_plots() -> None:
    fig = plots.accuracy_vs_eps(results())
    ax = next(a for a in fig.axes if a.get_title() == "pgd:steps=20")
    assert max(max(line.get_xdata()) for line in ax.get_lines()) == 16  # not the large-ε probe (0.5)
    assert not any(a.get_title() == "pgd:steps=40" for a in fig.axes)  # nor the doubled-steps cell
    assert ("linf", 0.5) not in plots.latency_points(results())
