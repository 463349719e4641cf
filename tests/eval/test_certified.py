"""``eval --certify``: certified accuracy on a toy pipeline worked by hand, its report section, bad input."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from edgeguard.certify import mask_set
from edgeguard.eval import report
from edgeguard.eval.certified import certified_correct, pair_keep

from .results_fixture import results, wilson


def _band_pipe(tau: float) -> SimpleNamespace:
    """A deployed pipeline whose engine reads rows 0–1 only: class 1 when their mean exceeds ``tau``."""

    def engine(x: np.ndarray) -> dict[str, np.ndarray]:
        s = torch.from_numpy(x)[:, :, :2].mean(dim=(1, 2, 3)).numpy() - tau
        return {"logits": np.stack([-s, s], axis=-1)}

    return SimpleNamespace(
        size=(32, 32), engine=engine, host_stages=[], manifest=SimpleNamespace(outputs=("logits",))
    )


def test_toy_geometry():
    # 32 px, patch 0.25 of a face 0.95 of the crop: p = ceil(7.6) = 8; k = 6 → s = ceil(25/6) = 5,
    # m = 12, positions 0, 5, 10, 15, 20 (5 per axis: the far edge is reached early)
    ms = mask_set(0.25, (32, 32))
    assert (ms.patch_px, ms.stride_px, ms.mask_px, ms.positions(1)) == (8, 5, 12, [0, 5, 10, 15, 20])
    keep, pairs = pair_keep(ms)
    assert len(pairs) == 25 * 26 // 2 and (pairs[:, 0] <= pairs[:, 1]).all() and keep.shape[1:] == (1, 32, 32)


@pytest.mark.parametrize(("tau", "white_certified"), [(0.6, True), (0.65, False)])
def test_certified_exactly_when_two_masks_cannot_pull_the_band_across_tau(tau, white_certified):
    # White frame, class 1: two masks at columns 0 and 20 grey 24 of the 32 band columns, mean
    # (8 + 24 · 0.5)/32 = 0.625: above 0.6 (certified), under 0.65 (a two-mask prediction flips).
    # Black frame, class 0: at most 24 grey columns give 0.375 < τ: certified for both τ.
    x = np.stack([np.ones((3, 32, 32)), np.zeros((3, 32, 32)), np.ones((3, 32, 32))]).astype(np.float32)
    got = certified_correct(_band_pipe(tau), x, np.array([1, 0, 0]), 0.25)
    assert got == [white_certified, True, False]  # the last: a wrong label is never certified correct


def test_report_shows_certified_beside_clean_accuracy():
    res = results()
    c = res["configs"][0]
    c.update(certified_patch=0.25, certified_masks=36, certified_accuracy=0.5, certified_ci=wilson(250, 500))
    text = report.render(res)
    assert "## Certified masking" in text
    row = next(line for line in text.splitlines() if line.startswith(f"| {c['name']} ") and "| 36 |" in line)
    assert "50.0" in row and "0.25" in row


@pytest.mark.parametrize(
    ("args", "match"),
    [(["--certify", "--patch", "1"], "0 < patch < 1"), (["--patch", "0.3"], "--patch needs --certify")],
)
def test_bad_certify_options_are_one_line_exit_2(tmp_path, capsys, args, match):
    from edgeguard.cli.app import main

    with pytest.raises(SystemExit) as done:
        main(["eval", "--model", "signs", "--attack", "fgsm", "--out", str(tmp_path / "o"), *args])
    err = capsys.readouterr().err
    assert done.value.code == 2 and err.count("\n") == 1 and match in err, err
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_signs_eval_with_certify_records_certified_accuracy(tmp_path, capsys):
    """End to end on the shipped model: certified accuracy ≤ clean accuracy, in results.json and report."""
    from edgeguard.cli.app import main
    from edgeguard.eval.records import read_results

    out = tmp_path / "rep"
    args = ["eval", "--model", "signs", "--attack", "fgsm", "--eps", "8/255", "--n", "4", "--quiet"]
    with pytest.raises(SystemExit) as done:
        main([*args, "--certify", "--patch", "0.25", "--out", str(out)])
    assert done.value.code in (0, None), capsys.readouterr().err
    c = read_results(out / "results.json")["configs"][0]
    assert c["certified_patch"] == 0.25 and c["certified_masks"] == 36
    assert 0.0 <= c["certified_accuracy"] <= c["clean_accuracy"]
    assert c["certified_ci"][0] <= c["certified_accuracy"] <= c["certified_ci"][1]
    assert "## Certified masking" in (out / "report.md").read_text()
