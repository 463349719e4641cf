"""``edgeguard scenario stop-sign``: end to end at tiny size (report == JSON), bad input, conditions."""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

import edgeguard
from edgeguard.cli.app import _load_commands
from edgeguard.errors import ConfigError
from edgeguard.scenario import conditions as conds
from edgeguard.scenario import stop_configs
from edgeguard.scenario.stickers import Budget
from edgeguard.scenario.stop_report import ALL, choose, latencies, summary

_load_commands()

SHIPPED = Path(edgeguard.__file__).parent / "models" / "engines" / "signs-bits5-median3x3.onnx"

TINY = Budget(
    2,
    1,
    naive_steps=2,
    naive_eot=1,
    mask_steps=1,
    mask_eot=1,
    queries=2,
    views=2,
    slow_queries=2,
    slow_views=2,
)


def test_camera_model_maps_feet_to_pixels() -> None:
    # pinhole f = 0.95 * 640 = 608 px, 0.76 m sign: at 10 ft (3.048 m) 608 * 0.76 / 3.048 = 151.6 px
    c = conds.parse(["10ft-0deg"])[0]
    assert c.sign_px() == pytest.approx(608 * 0.76 / 3.048)
    assert conds.parse(["40'0"])[0].sign_px() == pytest.approx(c.sign_px() / 4)
    assert c.geometry().crop_px == round(608 * 0.76 / 3.048 * 1.4)
    assert conds.parse(["5ft-0deg"])[0].geometry().crop_px == conds.MAX_CROP  # 424 px capped
    assert [x.name for x in conds.parse(None)] == [
        "5ft-0deg",
        "5ft-15deg",
        "10ft-0deg",
        "10ft-30deg",
        "40ft-0deg",
    ]
    assert conds.parse(["5′ 15°", "5:15"]) == (conds.Condition(5, 15),)
    with pytest.raises(ConfigError, match="unknown condition"):
        conds.parse(["20ft-0deg"])


def test_configuration_table_is_appendable() -> None:
    before = list(stop_configs.CONFIGS)
    try:
        stop_configs.register(stop_configs.StopConfig("extra-test", model="signs-denoise"))
        assert stop_configs.resolve(["extra-test"])[0].model == "signs-denoise"
        with pytest.raises(ConfigError, match="already registered"):
            stop_configs.register(stop_configs.StopConfig("extra-test"))
    finally:
        stop_configs.CONFIGS[:] = before
    assert stop_configs.resolve(["masking"], 0.1)[0].masking == 0.1
    with pytest.raises(ConfigError, match="unknown configuration"):
        stop_configs.resolve(["nosuch"])


def test_choice_rule_on_hand_made_rows() -> None:
    rows = [
        {
            "config": "signs",
            "clean_accuracy": 1.0,
            "worst_fooled": 0.9,
            "worst_sticker": "naive",
            "latency_ms": 2.0,
        },
        {
            "config": "a",
            "clean_accuracy": 0.99,
            "worst_fooled": 0.3,
            "worst_sticker": "query",
            "latency_ms": 2.1,
        },
        {
            "config": "b",
            "clean_accuracy": 1.0,
            "worst_fooled": 0.1,
            "worst_sticker": "query",
            "latency_ms": 8.0,
        },
        {
            "config": "c",
            "clean_accuracy": 0.9,
            "worst_fooled": 0.0,
            "worst_sticker": "query",
            "latency_ms": 1.0,
        },
        {
            "config": "d",
            "clean_accuracy": 1.0,
            "worst_fooled": 0.0,
            "worst_sticker": "query",
            "latency_ms": 50.0,
        },
    ]
    got = choose(rows)
    # c drops 10 points of clean accuracy, d is too slow: b is the real-time pick, a the cheap one
    assert (got["best_realtime"], got["best_cheap"]) == ("b", "a")


def _cells(md: str, heading: str) -> list[list[str]]:
    """The first markdown table after ``heading``, as rows of cell texts."""
    rows: list[list[str]] = []
    for ln in md.split(heading, 1)[1].splitlines():
        if ln.startswith("|"):
            rows.append([c.strip() for c in ln.strip("|").split("|")])
        elif rows:
            break
    return rows


@pytest.mark.slow
def test_tiny_run_end_to_end_report_equals_json(tmp_path) -> None:
    from edgeguard.scenario.stop_sign import Options, run

    out = tmp_path / "rep"
    # the shipped demo engine as the configuration: nothing to export (the slow part of a tiny run)
    name = "shipped-engine"
    opts = Options(
        out=out, quick=True, conditions=("10ft-0deg", "40ft-0deg"), configs=(name,), n=2, approach=3,
        budget=TINY, seed=1,
    )  # fmt: skip
    before = list(stop_configs.CONFIGS)
    stop_configs.register(stop_configs.StopConfig(name, model=str(SHIPPED)))
    try:
        res = run(opts)
        again = run(opts)  # a rerun resumes from the cached stickers
    finally:
        stop_configs.CONFIGS[:] = before
    for name in ("results.json", "report.md", "frames.png", "driveby.mp4"):
        assert (out / name).stat().st_size > 0, name
    data = json.loads((out / "results.json").read_text())
    recs = data["records"]
    # every configuration × (2 conditions + pooled + approach) × 4 stickers, the eval schema's fields
    assert len(recs) == 1 * 4 * 4
    from edgeguard.eval.records import validate_results

    validate_results(data)
    for r in recs:
        for key in ("config", "condition", "sticker", "accuracy", "fooled", "targeted_success", "flagged",
                    "certified", "latency_ms", "n"):  # fmt: skip
            assert key in r
        assert r["latency_ms"] > 0
        assert r["n"] == {"all": 4, "approach": 3}.get(r["condition"], 2)
        assert 0 <= r["fooled"] <= 1 - r["accuracy"] + 1e-9  # a fooled frame is not read as stop
    assert data["best_realtime"] == res["best_realtime"] and "best_cheap" in data
    # the stickers are cached in OUT/stickers (naive, adaptive, query), inside the bars, black/white
    from edgeguard.attacks import sticker as st

    pngs = sorted((out / "stickers").glob("*.png"))
    assert len(pngs) == 3
    for png in pngs:
        rgba = cv2.imread(str(png), cv2.IMREAD_UNCHANGED)
        bars = st.rasterise(st.MASKS["bars"], *rgba.shape[:2])[0, 0].numpy() > 0
        on = rgba[..., 3] == 255
        assert on.any() and not (on & ~bars).any() and set(np.unique(rgba[on][:, :3])) <= {0, 255}
    # report.md's drive-by table equals the JSON, cell by cell
    md = (out / "report.md").read_text()
    table = _cells(md, "## Drive-by table")
    header, body = table[0], table[2:]
    assert header[:2] == ["configuration", "condition"] and header[2:] == [
        "none",
        "naive",
        "adaptive",
        "query",
    ]
    for row in body:
        for kind, cell in zip(header[2:], row[2:]):
            r = next(x for x in recs if (x["config"], x["condition"], x["sticker"]) == (row[0], row[1], kind))
            want = r["accuracy"] if kind == "none" else r["fooled"]
            assert float(cell) == pytest.approx(round(100 * want, 1), abs=1e-9), (row, kind)
    assert len(body) == 1 * 4
    # and the summary table equals the pooled records
    summ = _cells(md, "## Summary")
    for row in summ[2:]:
        s = next(x for x in summary(recs, [row[0]], latencies(data["configs"])))
        assert float(row[1]) == pytest.approx(round(100 * s["clean_accuracy"], 1))
        for kind, cell in zip(("naive", "adaptive", "query"), row[2:5]):
            r = next(x for x in recs if (x["config"], x["condition"], x["sticker"]) == (row[0], ALL, kind))
            assert float(cell) == pytest.approx(round(100 * r["fooled"], 1))
        assert float(row[7]) == pytest.approx(round(s["latency_ms"], 2))
    assert re.search(r"best_realtime: \*\*", md)
    # the README block is generated from the same JSON (python -m edgeguard.scenario.stop_report)
    from edgeguard.scenario.stop_report import BEGIN, END, readme_section, update_readme

    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{BEGIN}\nold\n{END}\ntail\n")
    update_readme(readme, out / "results.json")
    text = readme.read_text()
    assert text == f"# x\n{BEGIN}\n{readme_section(data)}{END}\ntail\n" and "best_realtime" in text
    # the rerun used the cached stickers: same records (the configuration is deterministic)
    first = {(r["config"], r["condition"], r["sticker"]): r["fooled"] for r in recs}
    assert {(r["config"], r["condition"], r["sticker"]): r["fooled"] for r in again["records"]} == first


BAD = [
    (("--condition", "20ft-0deg"), "unknown condition"),
    (("--config", "nosuch"), "--config 'nosuch': unknown configuration"),
    (("--mask", "0:0:0.1:0.1"), "lies outside the sign face"),
    (("--patch", "1"), "--patch 1.0"),
    (("--patch", "1.5"), "0 < patch < 1"),
    (("--n", "0"), "--n 0"),
    (("--target", "no such sign"), "unknown target label"),
]


@pytest.mark.parametrize(("args", "message"), BAD)
def test_bad_inputs_one_line_exit_2_nothing_written(tmp_path, capsys, args, message) -> None:
    from edgeguard.cli.app import main

    out = tmp_path / "rep"
    with pytest.raises(SystemExit) as done:
        main(["scenario", "stop-sign", "--out", str(out), "--quick", *args])
    err = capsys.readouterr().err
    assert done.value.code == 2, err
    assert err.count("\n") == 1 and err.startswith("edgeguard: error: ") and message in err, err
    assert not out.exists()


def test_full_budget_adaptive_sticker_for_bits_median_is_the_shipped_one() -> None:
    from edgeguard.scenario.stickers import FULL, QUICK, SHIPPED, _shipped

    cfg = stop_configs.resolve(["bits+median"])[0]
    got = _shipped(cfg, {"steps": FULL.steps, "eot": FULL.eot}, "bars", None, 0)
    want = cv2.cvtColor(cv2.imread(str(SHIPPED), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGRA2RGBA)
    assert got is not None and got.path == SHIPPED and np.array_equal(got.rgba, want)
    # another budget, target, seed or configuration is optimised, not taken from the package
    assert _shipped(cfg, {"steps": QUICK.steps, "eot": QUICK.eot}, "bars", None, 0) is None
    assert _shipped(cfg, {"steps": FULL.steps, "eot": FULL.eot}, "bars", "yield", 0) is None
    assert _shipped(cfg, {"steps": FULL.steps, "eot": FULL.eot}, "bars", None, 1) is None
    demo = stop_configs.resolve(["demo"])[0]
    assert _shipped(demo, {"steps": FULL.steps, "eot": FULL.eot}, "bars", None, 0) is None
