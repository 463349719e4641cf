"""``edgeguard attack patch``: bad input is one line on stderr, exit 2 and no file written."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeguard.cli.app import main
from edgeguard.errors import ConfigError
from edgeguard.eval.person_patch import person_class


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as done:
        main(["attack", "patch", *args])
        raise SystemExit(0)
    return int(done.value.code or 0), capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "signs"], "is a classification model; the person patch attacks person detectors"),
        (["--scale", "1.5"], "larger than the person's box"),
        (["--scale", "0"], "larger than the person's box"),
        (["--steps", "0"], "--steps must be >= 1"),
        (["--fit", "0"], "--fit must be >= 1"),
        (["--model", "nosuch"], "unknown model"),
        (["--defense", "bits:9"], "bit depth"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_no_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, err = _run(capsys, "--out", str(tmp_path / "p.png"), *args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert list(tmp_path.iterdir()) == []


def test_out_must_be_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run(capsys, "--out", str(tmp_path / "p.jpg"))
    assert code == 2 and "PNG" in err and list(tmp_path.iterdir()) == []


def test_a_detector_needs_a_person_class() -> None:
    assert person_class(["car", "Person"], "d") == 1
    with pytest.raises(ConfigError, match="no 'person' class \\(labels: car, bus\\)"):
        person_class(["car", "bus"], "d")
