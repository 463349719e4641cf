"""The README's performance tables are generated from benchmarks/results/*.json and cannot drift."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
# The scripts that write their JSON through benchmarks/meta.py (machine, versions, command, date, load).
WITH_HEADER = (
    "defense_overhead",
    "squeeze_overhead",
    "masking_cost",
    "ort_vs_torch",
    "precision",
    "scaling",
    "host_stages",
    "camera",
)


def _readme_module():
    spec = importlib.util.spec_from_file_location("bench_readme", BENCH / "readme.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def readme():
    mod = _readme_module()
    yield mod
    for name in ("readme_format", "readme_engine", "readme_host"):
        sys.modules.pop(name, None)


def test_the_readme_equals_its_regeneration_from_the_committed_json(readme) -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    new = readme.render(text, readme.load_results())
    stale = [n for n, body in readme.blocks(new).items() if readme.blocks(text)[n] != body]
    assert not stale, (
        f"README blocks out of date with benchmarks/results: {stale}; run python benchmarks/readme.py"
    )
    assert new == text
    # every renderer is used by a block, and the blocks the issue asks for are there
    assert set(readme.blocks(text)) == set(readme.SECTIONS)
    assert {
        "defense_overhead",
        "squeeze_overhead",
        "masking_cost",
        "ort_vs_torch",
        "precision",
        "scaling",
        "host_stages",
        "camera",
        "provenance",
    } <= set(readme.blocks(text))


def test_a_stale_block_is_rewritten_and_text_outside_it_kept(readme, tmp_path: Path) -> None:
    row = {
        "batch": 1,
        "threads": 1,
        "ms": {"bare": {"p50": 80.0}, "fused": {"p50": 84.0}},
        "ratio": {"fused": {"ratio": 1.04, "low": 1.01, "high": 1.06}},
    }
    results = {
        "defense_overhead": {
            "resnet50": {"model": "resnet50", "size": 224, "rows": [row], "target_ratio": 1.05},
            "signs": {"model": "signs", "size": 64, "rows": []},
        }
    }
    text = (
        "before 1.5×\n<!-- bench:defense_overhead -->\n| old | 9.99× |\n"
        "<!-- /bench:defense_overhead -->\nafter\n"
    )
    new = readme.render(text, results)
    want = (
        "before 1.5×\n<!-- bench:defense_overhead -->\n"
        "| model | batch | ORT threads | bare p50 ms | fused p50 ms | fused / bare (95 %) | target |\n"
        "|---|---:|---:|---:|---:|---:|---:|\n"
        "| resnet50 224² | 1 | 1 | 80.0 | 84.0 | 1.04× (1.01–1.06) | ≤ 1.05×: interval spans it |\n"
        "<!-- /bench:defense_overhead -->\nafter\n"
    )
    assert new == want
    assert readme.render(new, results) == new  # idempotent
    # the CLI's --check names the stale block and exits 1; the rewrite makes it pass
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "defense_overhead.json").write_text(json.dumps(results["defense_overhead"]))
    (tmp_path / "R.md").write_text(text)
    args = ["--readme", str(tmp_path / "R.md"), "--results", str(tmp_path / "results")]
    assert readme.main([*args, "--check"]) == 1
    assert readme.main(args) == 0
    assert (tmp_path / "R.md").read_text() == want
    assert readme.main([*args, "--check"]) == 0


def test_verdict_follows_the_whole_interval(readme) -> None:
    fmt = sys.modules["readme_format"]
    assert fmt.verdict({"ratio": 1.0, "low": 0.98, "high": 1.04}, 1.05) == "≤ 1.05× met"
    assert fmt.verdict({"ratio": 1.1, "low": 1.06, "high": 1.2}, 1.05) == "≤ 1.05× **missed**"
    assert fmt.verdict({"ratio": 1.05, "low": 1.0, "high": 1.1}, 1.05) == "≤ 1.05×: interval spans it"
    assert [fmt.ms(v) for v in (0.41234, 4.1234, 41.234, 412.34, 4123.4)] == [
        "0.412",
        "4.12",
        "41.2",
        "412",
        "4,123",
    ]


def test_unpaired_or_unknown_markers_are_refused(readme) -> None:
    with pytest.raises(readme.StaleError, match="unpaired"):
        readme.render("<!-- bench:camera -->\nx\n", {})
    with pytest.raises(readme.StaleError, match="no renderer"):
        readme.render("<!-- bench:nope -->\nx\n<!-- /bench:nope -->\n", {})


@pytest.mark.parametrize("name", WITH_HEADER)
def test_each_result_says_where_when_and_how_it_was_measured(name: str) -> None:
    doc = json.loads((BENCH / "results" / f"{name}.json").read_text())
    m = doc["machine"]
    assert m["cpu"] and isinstance(m["cores"], int) and m["cores"] >= 1
    assert doc["versions"]["onnxruntime"] and doc["versions"]["numpy"]
    assert doc["command"].startswith(f"python benchmarks/{name}.py")
    assert doc["date"][:2] == "20" and doc["date"].endswith("+00:00")
    assert len(doc["load_average"]["start"]) == 3 and len(doc["load_average"]["end"]) == 3


def test_masking_entries_and_their_newest_provenance(readme) -> None:
    fmt = sys.modules["readme_format"]
    old = {"n": 100, "patch": 0.1}
    new = {"n": 100, "patch": 0.25, "date": "2026-11-25T07:00:00+00:00", "machine": {"cores": 2, "cpu": "x"}}
    doc = {"0.1": old, "0.25": new, "note": "anything else"}
    assert fmt.patch_entries(doc) == {"0.1": old, "0.25": new}
    assert fmt.newest_entry(doc) is new
    assert fmt.newest_entry(new) is new  # a result with its own provenance is its own
