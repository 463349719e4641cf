"""A torchvision model exported without weights warns once, on stderr, that its labels mean nothing."""

from __future__ import annotations

import logging

import pytest
import torch

from edgeguard import models
from edgeguard.exporter.onnx import export


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "edgeguard.export" and r.levelno >= logging.WARNING
    ]


@pytest.mark.slow
def test_random_weights_warn_and_given_weights_do_not(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="edgeguard.export")
    res = export("mobilenet_v3_small", input_size=32, seed=3, parity_images=1, out=tmp_path / "r.onnx")
    assert res.manifest.provenance.source.init == "random(seed=3)"
    (msg,) = _warnings(caplog)
    assert msg.startswith("warning: mobilenet_v3_small has random weights (seed 3, no --weights)")
    assert "1000 labels" in msg and "--weights FILE" in msg and "\n" not in msg

    caplog.clear()
    net, _ = models.build("mobilenet_v3_small")
    torch.save(net.state_dict(), tmp_path / "w.pt")
    res = export(
        "mobilenet_v3_small",
        weights=tmp_path / "w.pt",
        input_size=32,
        parity_images=1,
        out=tmp_path / "w.onnx",
    )
    assert res.manifest.provenance.source.init == "file" and _warnings(caplog) == []


@pytest.mark.slow
def test_cli_prints_the_warning_as_one_stderr_line(tmp_path, cli):
    r = cli("export", "mobilenet_v3_small", "--input-size", "32", "--out", str(tmp_path / "m.onnx"))
    assert r.returncode == 0, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("warning: mobilenet_v3_small has random weights"), r.stderr
    assert "wrote" in r.stdout
