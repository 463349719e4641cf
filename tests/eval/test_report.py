"""report.md and the one markdown-table generator: every number comes from results.json."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from edgeguard.errors import ConfigError
from edgeguard.eval import records, report
from edgeguard.eval.records import validate_results
from edgeguard.eval.table import eps_label, markdown, ms, pct, size, table

from .results_fixture import EPS, PGD, results, wilson

# a number standing alone: not part of a name (bits:5, 3x3, v2), a version (2.4.1) or a date's tail
NUMBER = re.compile(r"(?<![\w.:=/+\-])\d+(?:\.\d+)?(?:/255)?(?![\w/]|\.\d)")


def _leaves(obj, numbers: list, strings: list) -> None:
    if isinstance(obj, dict):
        for k, v in obj.items():
            strings.append(str(k))
            _leaves(v, numbers, strings)
    elif isinstance(obj, list):
        for v in obj:
            _leaves(v, numbers, strings)
    elif isinstance(obj, bool) or obj is None:
        return
    elif isinstance(obj, (int, float)):
        numbers.append(obj)
    else:
        strings.append(str(obj))


def unexplained_numbers(text: str, data: dict) -> list[str]:
    """Numbers in ``text`` that are not a results.json number in one of the report's formats."""
    numbers: list = []
    strings: list = []
    _leaves(data, numbers, strings)
    shown = set(report.FIXED_NUMBERS)
    for v in numbers:
        if not math.isfinite(v):
            continue
        shown |= {pct(v), ms(v), size(v), eps_label(v), f"{v:g}"}
        if isinstance(v, int):
            shown.add(str(v))
    for s in strings:
        shown |= set(NUMBER.findall(s))
    return [t for t in NUMBER.findall(text) if t not in shown]


def _cells(md: str, heading: str) -> dict[tuple[str, str], str]:
    """(row label, column header) → cell text of the first table after ``heading``."""
    lines = md.split(heading + "\n", 1)[1].splitlines()
    while not lines[0].startswith("|"):
        lines.pop(0)  # the prose before the table
    rows = []
    for line in lines:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip("|").split("|")])
    header, body = rows[0], rows[2:]
    return {(row[0], h): cell for row in body for h, cell in zip(header[1:], row[1:])}


def test_the_fixture_is_a_valid_results_file() -> None:
    data = validate_results(results())
    assert len(data["records"]) == 24 + 12 + 4 + 12 + 6  # pgd, fgsm, deepfool, worst, sanity extras
    # records.wilson is the interval the report prints; scipy's Wilson interval is the oracle
    assert records.wilson(141, 500) == pytest.approx(tuple(wilson(141, 500)), abs=1e-12)


def test_eps_labels_are_what_people_write() -> None:
    assert eps_label(8 / 255) == "8/255"
    assert eps_label(8 / 255, "linf") == "8/255"
    assert eps_label(0.5, "l2") == "0.5"
    assert eps_label(0.1, "linf") == "0.1"  # not a whole number of pixel levels
    assert eps_label(None) == "unbounded"


def test_table_orders_eps_numerically_marks_missing_cells_and_shows_wilson() -> None:
    recs = [
        {
            "config": "b",
            "attack": "pgd",
            "eps": 16 / 255,
            "norm": "linf",
            "mode": "naive",
            "robust_accuracy": 0.25,
            "robust_ci": wilson(25, 100),
        },
        {
            "config": "b",
            "attack": "pgd",
            "eps": 2 / 255,
            "norm": "linf",
            "mode": "naive",
            "robust_accuracy": 0.5,
            "robust_ci": wilson(50, 100),
        },
        {
            "config": "a",
            "attack": "pgd",
            "eps": 8 / 255,
            "norm": "linf",
            "mode": "naive",
            "robust_accuracy": 0.4,
            "robust_ci": None,
        },
        {
            "config": "a",
            "attack": "pgd",
            "eps": 8 / 255,
            "norm": "linf",
            "mode": "adaptive",
            "robust_accuracy": 0.1,
            "robust_ci": None,
        },
    ]
    md = table(recs, rows=("config",), cols=("eps",), mode="naive")
    lines = md.splitlines()
    assert lines[0] == "| configuration | 2/255 | 8/255 | 16/255 |"  # not "16/255" first
    assert lines[1] == "|---|---:|---:|---:|"
    # rows keep first appearance; by hand (z = 1.96): Wilson(50, 100) = [0.4038, 0.5962],
    # Wilson(25, 100) = [0.1754, 0.3430]
    assert lines[2] == "| b | 50.0 (40.4–59.6) | — | 25.0 (17.5–34.3) |"
    assert lines[3] == "| a | — | 40.0 | — |"
    both = table(recs, rows=("config",), cols=("eps", "mode"), where={"config": "a"})
    assert both.splitlines()[0] == "| configuration | 8/255 naive | 8/255 adaptive |"
    assert table(recs, mode="worst") == ""
    with pytest.raises(ValueError, match="two records for the cell"):
        table(recs, rows=("config",), cols=("eps",))  # naive and adaptive collide without "mode"


def test_table_escapes_pipes_and_checks_row_width() -> None:
    md = markdown(["a|b", "c"], [["x|y", "1"]])
    assert md.splitlines()[2] == "| x\\|y | 1 |"
    with pytest.raises(ValueError):
        markdown(["a", "b"], [["only one"]])


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict]:
    data = results()
    out = tmp_path_factory.mktemp("eval") / "out"
    path = report.write_report(data, out, plots=False)  # tests/eval/test_plots.py draws them
    assert path == out / "report.md"
    assert [p.name for p in out.iterdir()] == ["report.md"]  # no temp left behind
    return path.read_text(encoding="utf-8"), data


def test_every_number_in_the_report_comes_from_results(written) -> None:
    md, data = written
    assert unexplained_numbers(md, data) == []
    assert len(NUMBER.findall(md)) > 300  # the check saw the tables, not an empty page
    # the check itself catches a number that is not in the results
    assert unexplained_numbers(md + "\nadaptive is 37.3 points lower\n", data) == ["37.3"]


def test_naive_and_adaptive_side_by_side_per_config(written) -> None:
    md, _ = written
    cells = _cells(md, "### demo")
    naive, adaptive = PGD["demo"]
    for e, kn, ka in zip(EPS, naive, adaptive):
        lo, hi = wilson(ka, 500)
        label = eps_label(e)
        assert (
            cells[("pgd:steps=20", f"{label} adaptive")]
            == f"{100 * ka / 500:.1f} ({100 * lo:.1f}–{100 * hi:.1f})"
        )
        assert cells[("pgd:steps=20", f"{label} naive")].startswith(f"{100 * kn / 500:.1f} (")
    assert cells[("fgsm", "16/255 naive")] == "—"  # not run at 16/255
    assert cells[("deepfool:steps=50", "unbounded naive")].startswith("0.0 (")


def test_adaptive_gap_warns_that_transforms_are_not_protection(written) -> None:
    md, _ = written
    warnings = [line for line in md.splitlines() if line.startswith("- **Warning")]
    # demo: naive 55.0 % vs adaptive 10.0 % at 8/255 is the largest gap; the bare model has no gap;
    # user-tvm's largest gap (12.0 points at 8/255) is also over GAP
    assert len(warnings) == 2
    demo = next(w for w in warnings if "demo" in w)
    assert "adaptive robust accuracy 10.0 % vs naive 55.0 %" in demo
    assert "8/255" in demo and "input transforms are not protection here" in demo
    assert not any("signs**" in w for w in warnings)


def test_no_warning_when_adaptive_is_close_to_naive() -> None:
    data = results()
    for r in data["records"]:
        if r["mode"] == "adaptive" and r["config"] != "signs":
            twin = (
                next(
                    n
                    for n in data["records"]
                    if n["mode"] == "naive"
                    and (n["config"], n["attack"], n["eps"]) == (r["config"], r["attack"], r["eps"])
                )
                if r["kind"] != "query"
                else None
            )
            if twin:
                r["robust_accuracy"] = twin["robust_accuracy"] - 0.05
    assert not any("demo" in w for w in report.gap_warnings(data))


def test_white_box_missing_failed_sanity_worst_case_detection_latency(written) -> None:
    md, data = written
    assert "**White-box numbers missing — user-tvm**: onnx2torch could not convert op 'Loop'" in md
    assert "| iterative ≤ single-step | user-tvm | fgsm | **FAILED** |" in md
    assert "| adaptive ≤ naive | demo | pgd:steps=20 | passed |" in md
    worst = _cells(md, "## Headline: per-example worst case")
    rec = next(
        r for r in data["records"] if r["mode"] == "worst" and r["config"] == "demo" and r["eps"] == 8 / 255
    )
    assert worst[("demo", "8/255")].startswith(pct(rec["robust_accuracy"]) + " (")
    det = _cells(md, "## Detection")
    assert det[("demo", "AUC")] == "0.8731" and det[("demo", "τ")] == "0.4172"
    assert det[("demo", "target FPR (%)")] == "5.0" and det[("demo", "clean flagged (%)")] == "5.8"
    lat = _cells(md, "## Latency per stage")
    assert lat[("user-tvm", "stage:tvm")] == "38.27 / 44.91"
    assert lat[("signs", "stage:tvm")] == "—"
    header = md.split("## Latency per stage", 1)[1]
    assert (
        header.index("preprocess")
        < header.index("stage:tvm")
        < header.index("engine")
        < header.index("total")
    )


def test_rewrite_report_from_results_json(tmp_path: Path) -> None:
    data = results()
    (tmp_path / "results.json").write_text(json.dumps(data), encoding="utf-8")
    path = report.rewrite_report(tmp_path, plots=False)
    assert path.read_text(encoding="utf-8") == report.render(data)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.md", "results.json"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("{not json", "cannot be read"),
        ('{"format": "other"}', "not an edgeguard evaluation"),
        ("BAD RECORD", "records\\[0\\]: missing key 'attack'"),
    ],
)
def test_bad_results_refused_and_nothing_written(tmp_path: Path, content, message) -> None:
    if content == "BAD RECORD":
        data = results()
        del data["records"][0]["attack"]
        content = json.dumps(data)
    if content is not None:
        (tmp_path / "results.json").write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        report.rewrite_report(tmp_path)
    assert not (tmp_path / "report.md").exists()


def test_sanity_extra_cells_have_their_own_table_and_raise_no_warning(written) -> None:
    md, _ = written
    grid, extra = md.split("### Cells added for the sanity checks", 1)
    assert "0.5" not in _cells(md, "### demo") and "pgd:steps=40" not in grid.split("## Detection")[0]
    cells = _cells(md, "### Cells added for the sanity checks")
    # rows: configuration, attack, extra, n; signs' large-ε cell: naive 30 %, adaptive 0 % at ε = 0.5
    assert cells[("signs", "0.5 naive")] == "30.0 (21.9–39.6)"
    assert cells[("demo", "16/255 adaptive")] == "0.4 (0.1–1.4)"
    # a 30-point gap in a sanity probe is not a verdict on the configuration
    assert not [w for w in report.gap_warnings(results()) if "signs" in w]


def test_two_records_in_one_cell_still_give_a_report() -> None:
    data = results()
    twin = dict(data["records"][0], robust_accuracy=0.123, robust_ci=[0.1, 0.15])
    data["records"].append(twin)  # e.g. the same attack run twice under one name
    md = report.render(data)
    assert "12.3 (10.0–15.0)" in md and "80.4 (76.7–83.6)" in md  # both shown, as a flat listing
    assert unexplained_numbers(md, data) == []


def test_the_warning_cites_a_budgeted_attack_before_a_minimal_one() -> None:
    data = results()
    for r in data["records"]:
        if r["attack"].startswith("deepfool") and r["config"] == "demo":
            # DeepFool's minimal perturbation found on the bare model does not survive the defense
            r["robust_accuracy"], r["robust_ci"] = (
                (0.9, [0.87, 0.92]) if r["mode"] == "naive" else (0.0, [0.0, 0.01])
            )
    demo = next(w for w in report.gap_warnings(data) if "demo" in w)
    assert "10.0 % vs naive 55.0 % (pgd:steps=20, ε = 8/255)" in demo  # 45 points, not DeepFool's 90
    data["records"] = [r for r in data["records"] if r["attack"].startswith("deepfool")]
    demo = next(w for w in report.gap_warnings(data) if "demo" in w)
    assert "0.0 % vs naive 90.0 % (deepfool:steps=50, ε = unbounded)" in demo


def test_perturbation_rows_of_sanity_probes_say_so(written) -> None:
    md, _ = written
    assert "| demo | pgd:steps=20 | adaptive (large-eps) | linf | 0.5 | 0.4995 |" in md
