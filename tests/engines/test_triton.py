"""The triton:// engine against an in-process fake Triton gRPC server serving a repository that
``edgeguard triton`` wrote: same tensors, same outputs and the same pipeline results as running the
engine file locally; an unreachable or silent address fails after a bounded time in one line."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

import edgeguard
from edgeguard import manifest as mf
from edgeguard.camera import default
from edgeguard.engines import open_engine
from edgeguard.engines.onnxruntime import OnnxRuntimeEngine
from edgeguard.engines.triton import CONNECT_TIMEOUT_S, parse_target
from edgeguard.errors import EngineError
from edgeguard.exporter.triton import write_repository
from edgeguard.extras import MissingExtraError
from tests.fakes import graphs

pytest.importorskip("tritonclient.grpc", reason="the 'triton' extra is not installed")
from tests.fakes.triton_server import serve, silent_port  # noqa: E402  (needs grpc from the extra)


@pytest.fixture(scope="module")
def shipped() -> Path:
    return default.shipped_engine_path()


@pytest.fixture(scope="module")
def server(shipped: Path, tmp_path_factory: pytest.TempPathFactory):
    """The fake server on a repository holding the shipped engine (``signs``, max batch 8, adv_score)
    and a fixed-batch graph without a manifest (``fixed``, max batch 0)."""
    repo = tmp_path_factory.mktemp("triton") / "repo"
    write_repository(shipped, repo, name="signs")
    fixed = graphs.classifier(shape=(2, 3, 16, 16))
    fixed.graph.output[0].type.tensor_type.shape.dim[0].dim_value = 2
    write_repository(graphs.save(fixed, repo.parent, "fixed.onnx"), repo)
    srv, servicer, port = serve(repo)
    yield servicer, port, repo
    srv.stop(0)


def test_tensors_manifest_and_outputs_match_the_local_engine(server, shipped: Path) -> None:
    servicer, port, repo = server
    local = OnnxRuntimeEngine(shipped, provider="cpu")
    with open_engine(f"triton://127.0.0.1:{port}/signs") as eng:
        assert eng.inputs == local.inputs and eng.outputs == local.outputs  # (B,) adv_score comes back (B,)
        assert eng.max_batch == 8
        assert eng.manifest == mf.load_sidecar(repo / "signs" / "1" / "model.edgeguard.json")
        assert eng.manifest.detector == local.manifest.detector
        x = np.random.default_rng(0).random((11, 3, 64, 64), dtype=np.float32)
        servicer.batches.clear()
        got, want = eng(x), local(x)
        assert servicer.batches == [8, 3]  # above max_batch_size: sent in two requests
        assert set(got) == {"logits", "adv_score"} and got["adv_score"].shape == (11,)
        for k in want:
            np.testing.assert_allclose(got[k], want[k], rtol=1e-5, atol=1e-5)
        assert len(eng.timings_ms) == 1 and eng.provider == f"triton 127.0.0.1:{port}"


def test_fixed_batch_model_without_manifest(server) -> None:
    servicer, port, repo = server
    with open_engine(f"triton://127.0.0.1:{port}/fixed/1") as eng:
        assert eng.max_batch == 0 and eng.manifest is None and eng.version == "1"
        assert eng.inputs[0].shape == (2, 3, 16, 16)
        x = np.random.default_rng(1).random((2, 3, 16, 16), dtype=np.float32)
        want = OnnxRuntimeEngine(repo / "fixed" / "1" / "model.onnx", provider="cpu")(x)["logits"]
        np.testing.assert_allclose(eng(x)["logits"], want, rtol=1e-6)


def test_load_runs_the_same_pipeline_against_the_server(server, shipped: Path) -> None:
    _, port, _ = server
    from edgeguard.data.templates import render_sign

    rgb, mask = render_sign("stop", 96)
    frame = np.ascontiguousarray(np.where(mask[..., None] > 0, rgb, 128).astype(np.uint8)[..., ::-1])
    with edgeguard.load(f"triton://127.0.0.1:{port}/signs") as remote, edgeguard.load(shipped) as here:
        (r,), (h,) = remote([frame]), here([frame])
    assert r.decision["top"][0]["label"] == h.decision["top"][0]["label"] == "stop"
    assert r.decision["top"][0]["prob"] == pytest.approx(h.decision["top"][0]["prob"], abs=1e-6)
    assert r.adv_score == pytest.approx(h.adv_score, abs=1e-5) and r.flagged == h.flagged


def test_camera_command_against_the_server(server, tmp_path: Path, capsys) -> None:
    _, port, _ = server
    from edgeguard.cli.app import main

    args = [
        "camera",
        "--engine",
        f"triton://127.0.0.1:{port}/signs",
        "--source",
        "synthetic:stop-sign?frames=6",
    ]
    with pytest.raises(SystemExit) as done:
        main([*args, "--summary", "s.json", "--out-dir", str(tmp_path), "--no-overlay"])
    assert done.value.code == 0, capsys.readouterr().err
    s = json.loads((tmp_path / "s.json").read_text())
    assert s["frames"] == 6 and sum(s["labels"].values()) == 6
    assert f"triton 127.0.0.1:{port}" in capsys.readouterr().out


def test_unreachable_and_silent_addresses_fail_in_bounded_time(server) -> None:
    _, port, _ = server
    t0 = time.perf_counter()
    with pytest.raises(EngineError, match=r"triton://127\.0\.0\.1:1/m: server unreachable within 5 s"):
        open_engine("triton://127.0.0.1:1/m")  # connection refused: at once
    assert time.perf_counter() - t0 < CONNECT_TIMEOUT_S
    sock, quiet = silent_port()
    try:
        t0 = time.perf_counter()
        with pytest.raises(EngineError, match="unreachable within 1 s") as err:
            open_engine(f"triton://127.0.0.1:{quiet}/m?timeout=1")
        assert 0.9 < time.perf_counter() - t0 < 3.0 and "\n" not in str(err.value)
    finally:
        sock.close()
    with pytest.raises(EngineError, match="model not available.*unknown model"):
        open_engine(f"triton://127.0.0.1:{port}/nosuch")


def test_cli_unreachable_address_is_one_line_exit_2(tmp_path: Path, capsys) -> None:
    from edgeguard.cli.app import main

    img = tmp_path / "x.png"
    cv2.imwrite(str(img), np.zeros((8, 8, 3), np.uint8))
    sock, quiet = silent_port()
    try:
        t0 = time.perf_counter()
        with pytest.raises(SystemExit) as done:
            main(["infer", "--engine", f"triton://127.0.0.1:{quiet}/signs?timeout=1", str(img)])
        elapsed = time.perf_counter() - t0
    finally:
        sock.close()
    err = capsys.readouterr().err
    assert done.value.code == 2 and err.count("\n") == 1 and elapsed < 3.0
    assert err.startswith("edgeguard: error: triton://127.0.0.1:") and "unreachable within 1 s" in err


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("triton:///m", "expected triton://HOST"),
        ("triton://h:8001", "expected triton://HOST"),
        ("triton://h:8001/a/b/c", "expected triton://HOST"),
        ("triton://h:99999/m", "Port out of range"),
        ("triton://h/m?timeout=0", "timeout must be"),
        ("triton://h/m?timeout=nan", "timeout must be"),
        ("triton://h/m?tls=1", "unknown option 'tls'"),
    ],
)
def test_bad_uris(uri: str, message: str) -> None:
    with pytest.raises(EngineError, match=message):
        parse_target(uri)


def test_uri_parts() -> None:
    assert parse_target("triton://gpu-box/signs") == ("gpu-box:8001", "signs", "", None)
    assert parse_target("triton://[::1]:9001/signs/3?timeout=2.5") == ("[::1]:9001", "signs", "3", 2.5)


def test_missing_extra_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tritonclient", None)  # as if not installed
    with pytest.raises(MissingExtraError, match=r"pip install 'edgeguard\[triton\]'") as err:
        open_engine("triton://127.0.0.1:1/m")
    assert "\n" not in str(err.value)


def test_sidecar_given_when_the_config_has_no_manifest(server, shipped: Path) -> None:
    _, port, _ = server
    side = mf.sidecar_path(shipped)
    from edgeguard.engines.triton import TritonEngine

    with TritonEngine(f"triton://127.0.0.1:{port}/fixed", manifest=side) as eng:
        assert eng.manifest == mf.load_sidecar(side) and eng.manifest.detector is not None
