"""``edgeguard scenario surveillance``: bad input is one line, exit 2 and nothing written; a tiny run
writes records with the issue's fields and a report generated from exactly those records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgeguard.cli.app import main
from edgeguard.errors import ConfigError
from edgeguard.scenario import surveillance_configs as sc
from edgeguard.scenario.surveillance import Options, validate
from edgeguard.scenario.surveillance_report import BEGIN, END, best, readme_table, report


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as done:
        main(["scenario", "surveillance", *args])
        raise SystemExit(0)
    return int(done.value.code or 0), capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--config", "nosuch"], "unknown surveillance configuration 'nosuch' (known: undefended"),
        (["--scale", "1.5"], "larger than the person's box"),
        (["--n", "0"], "--n must be a whole number >= 1"),
        (["--steps", "0"], "--steps must be a whole number >= 1"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    out = tmp_path / "report"
    code, err = _run(capsys, "--out", str(out), *args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_a_classifier_or_a_detector_without_people_is_refused(tmp_path: Path) -> None:
    sc.register(sc.SurvConfig("signs-as-detector", model="signs"))
    try:
        with pytest.raises(ConfigError, match="is a classification model"):
            validate(Options(out=tmp_path, configs=("signs-as-detector",)))
    finally:
        sc.CONFIGS[:] = [c for c in sc.CONFIGS if c.name != "signs-as-detector"]
    assert not list(tmp_path.iterdir())


def test_best_configuration_is_the_worst_case_within_the_latency_budget() -> None:
    def rec(config: str, patch: str, caught: float, lat: float) -> dict:
        return {"config": config, "patch": patch, "caught": caught, "latency_ms": lat}

    results = {
        "records": [
            rec("undefended", "none", 0.4, 10.0),
            rec("undefended", "adaptive", 0.1, 10.0),
            rec("a", "none", 0.4, 11.0),
            rec("a", "naive", 0.9, 11.0),
            rec("a", "adaptive", 0.3, 11.0),
            rec("slow", "none", 0.4, 13.0),
            rec("slow", "adaptive", 0.95, 13.0),
        ]
    }
    b = best(results)
    assert b is not None and b["config"] == "a" and b["worst_caught"] == 0.3
    assert b["latency_ratio"] == pytest.approx(1.1)


@pytest.mark.slow
def test_tiny_run_writes_records_and_the_report_equals_its_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r"
    code, err = _run(
        capsys, "--out", str(out), "--config", "undefended", "--n", "2", "--fit", "2", "--steps", "1"
    )
    assert code == 0, err
    results = json.loads((out / "results.json").read_text())
    recs = results["records"]
    assert [r["patch"] for r in recs] == ["none", "random", "naive", "adaptive"]
    for r in recs:
        assert {"config", "patch", "recall", "caught", "ap50", "flagged", "latency_ms"} <= set(r)
        assert "undefended" in r["config"] and 0 <= r["recall"] <= 1 and r["latency_ms"] > 0
        assert r["caught"] == r["recall"]  # no detector: caught means detected
    assert (out / "report.md").read_text() == report(results)
    assert (out / "examples.png").stat().st_size > 0 and list((out / "patches").glob("naive-*.npy"))


def test_readme_table_is_generated_from_the_committed_results() -> None:
    """The README's surveillance table equals what the generator writes from the committed JSON."""

    root = Path(__file__).resolve().parents[2]
    results = json.loads((root / "benchmarks/results/scenario-surveillance-quick.json").read_text())
    readme = (root / "README.md").read_text(encoding="utf-8")
    block = readme.split(BEGIN, 1)[1].split(END, 1)[0]
    assert block == "\n" + readme_table(results)
    undefended = next(r for r in results["records"] if r["config"] == "undefended" and r["patch"] == "none")
    assert f"| undefended | {100 * undefended['recall']:.0f} / " in block
