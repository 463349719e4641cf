"""The runtime install (``pip install edgeguard``, no torch): what it runs, what it refuses, what it ships.

The runtime commands run in fresh interpreters whose ``sys.meta_path`` starts with a finder that
refuses ``torch``/``torchvision`` as if they were not installed, so an accidental import on the
inference path fails loudly instead of passing on this (torch-equipped) test machine.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeguard import extras, manifest
from edgeguard.camera import default
from edgeguard.errors import ConfigError

pytestmark = pytest.mark.timeout(300)

# Installs the refusing finder, runs the CLI, and reports at exit which torch modules got loaded.
NO_TORCH = textwrap.dedent(
    """
    import atexit, json, sys

    class NoTorch:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("torch", "torchvision"):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, NoTorch())
    atexit.register(lambda: print("\\nLOADED=" + json.dumps(
        sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "torchvision"))), file=sys.stderr))
    from edgeguard.cli.app import main
    sys.argv[0] = "edgeguard"
    main()
    """
)
TVM_LINE = (
    "edgeguard: error: stage 'tvm' needs the 'export' extra (no module named 'torch'): "
    "pip install 'edgeguard[export]'"
)


def runtime_cli(*args: str, cwd: Path | None = None) -> tuple[subprocess.CompletedProcess, list[str], str]:
    """``edgeguard ARGS`` without torch: (process, torch modules loaded, stderr without the report)."""
    env = dict(os.environ, COLUMNS="200", EDGEGUARD_DEBUG="")
    r = subprocess.run(
        [sys.executable, "-c", NO_TORCH, *args], cwd=cwd, capture_output=True, text=True, timeout=240, env=env
    )
    err, _, report = r.stderr.rpartition("\nLOADED=")
    assert report, f"the no-torch runner did not finish: {r.stderr}"
    return r, json.loads(report), err.strip()


@pytest.fixture(scope="module")
def shipped() -> Path:
    path = default.shipped_engine_path()
    assert path.is_file() and manifest.sidecar_path(path).is_file(), "run `make demo-engine`"
    return path


@pytest.fixture(scope="module")
def stop_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A rendered stop sign on grey (the class the shipped model must name)."""
    from edgeguard.data.templates import render_sign

    rgb, mask = render_sign("stop", 128)
    img = np.where(mask[..., None] > 0, rgb, 128).astype(np.uint8)
    path = tmp_path_factory.mktemp("img") / "stop.png"
    cv2.imwrite(str(path), img[..., ::-1])
    return path


def test_extras_match_pyproject() -> None:
    """extras.EXTRAS (what the one-line errors name) is what pyproject's extras install; the runtime
    dependencies carry none of it."""
    tomllib = pytest.importorskip("tomllib")
    meta = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]
    import_name = {
        "scikit-image": "skimage",
        "onnxconverter-common": "onnxconverter_common",
        "adversarial-robustness-toolbox": "art",
    }

    def names(reqs: list[str]) -> set[str]:
        out = set()
        for req in reqs:
            if ";" in req:  # a backport only old Pythons install (tomli on 3.10): no module to name
                continue
            dist = req.split(">")[0].split("=")[0].split("[")[0].strip()
            out.add(import_name.get(dist, dist.replace("-", "_")))
        return out

    opt = meta["optional-dependencies"]
    for extra, mods in extras.EXTRAS.items():
        assert names(opt[extra]) == set(mods), extra
    runtime = names(meta["dependencies"])
    assert runtime == {"numpy", "onnx", "onnxruntime", "opencv_python_headless", "typer", "rich"}
    assert "edgeguard[export,train,eval,ray,triton]" in opt["dev"]


def test_missing_module_maps_to_one_extra() -> None:
    torch_missing = ModuleNotFoundError("No module named 'torch'", name="torch")
    msg = "(no module named 'torch'): pip install 'edgeguard[{}]'"
    cases = [
        (
            ["export", "signs", "--out", "x.onnx"],
            "edgeguard export needs the 'export' extra " + msg.format("export"),
        ),
        (["train", "signs", "-o", "w"], "edgeguard train needs the 'train' extra " + msg.format("train")),
        (["train", "eval"], "edgeguard train eval needs the 'eval' extra " + msg.format("eval")),
        (["data", "calib", "x"], "edgeguard data calib needs the 'export' extra " + msg.format("export")),
        (["infer", "a.png"], "edgeguard infer needs the 'export' extra " + msg.format("export")),
    ]
    for argv, line in cases:
        assert str(extras.from_import_error(torch_missing, argv)) == line
    mpl = ModuleNotFoundError("No module named 'matplotlib'", name="matplotlib")
    assert "'eval' extra" in str(extras.from_import_error(mpl, ["train", "signs"]))  # only eval brings it
    assert extras.from_import_error(ModuleNotFoundError("x", name="numpy"), ["infer"]) is None  # a real bug
    extras.require("numpy", "cv2", what="anything")  # installed: no error
    with pytest.raises(extras.MissingExtraError, match=r"^stage 'x' needs the 'train' extra") as info:
        extras.require("edgeguard_no_such_module", what="stage 'x'", extra="train")
    assert isinstance(info.value, ConfigError) and "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="unknown extra"):
        extras.missing("bogus")
    assert extras.missing("export") == []  # this test venv has everything


def test_ensure_engine_without_the_export_extra_uses_the_shipped_copy(
    shipped: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDGEGUARD_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(extras, "missing", lambda extra: ["torch"])
    logs: list[str] = []
    assert default.ensure_engine(log=logs.append) == shipped
    assert logs == [f"runtime install: running the demo engine shipped with edgeguard ({shipped.name})"]
    assert not default.engine_path().exists()  # nothing exported into the cache
    monkeypatch.setattr(default, "SHIPPED_DIR", tmp_path / "gone")
    with pytest.raises(default.ModelError, match=r"demo engine shipped with edgeguard is missing .*--engine"):
        default.ensure_engine(log=logs.append)


@pytest.mark.slow
def test_infer_never_imports_torch(shipped: Path, stop_png: Path) -> None:
    """Same answer as the in-process pipeline, with and without the numpy host stages; no torch."""
    import edgeguard

    for stage_args, stages in (
        ([], []),
        (["-s", "nlm", "-s", "jpeg:75", "-s", "kmeans:4"], ["nlm", "jpeg:75", "kmeans:4"]),
    ):
        r, loaded, err = runtime_cli("infer", "-e", str(shipped), str(stop_png), "--json", *stage_args)
        assert r.returncode == 0 and loaded == [], err
        got = json.loads(r.stdout)
        with edgeguard.load(shipped, host_stages=stages or None) as pipe:
            want = pipe([stop_png])[0].decision["top"]
        assert got["top"][0]["label"] == "stop"
        assert [t["index"] for t in got["top"]] == [t["index"] for t in want]
        np.testing.assert_allclose([t["prob"] for t in got["top"]], [t["prob"] for t in want], atol=1e-6)
        assert [k for k in got["timing_ms"] if k.startswith("stage:")] == [
            f"stage:{s.split(':')[0]}" for s in stages
        ]


@pytest.mark.slow
def test_bench_never_imports_torch(shipped: Path, tmp_path: Path) -> None:
    """``edgeguard bench`` (a sweep and a --compare) measures an engine on the runtime install."""
    out = tmp_path / "b.json"
    for args in (["-e", str(shipped)], ["--compare", str(shipped), str(shipped)]):
        r, loaded, err = runtime_cli(
            "bench",
            *args,
            "--batch",
            "1",
            "--iters",
            "3",
            "--warmup",
            "0",
            "--threads",
            "1",
            "--json",
            str(out),
        )
        assert r.returncode == 0 and loaded == [], err
        data = json.loads(out.read_text())
        stages = data["runs"][0]["stages_ms"] if "runs" in data else data["compare"]["stages"]
        assert {"preprocess", "engine", "decision", "total"} <= set(stages)


@pytest.mark.slow
def test_torch_stages_and_commands_name_their_extra(shipped: Path, stop_png: Path, tmp_path: Path) -> None:
    r, loaded, err = runtime_cli("infer", "-e", str(shipped), str(stop_png), "--stage", "tvm")
    assert (r.returncode, err, loaded) == (2, TVM_LINE, [])
    for argv, extra in ((["export", "signs", "--out", "never.onnx"], "export"), (["models"], "export")):
        r, loaded, err = runtime_cli(*argv, cwd=tmp_path)  # `models` imports torch: the finder works
        assert (r.returncode, err, loaded) == (
            2,
            f"edgeguard: error: edgeguard {argv[0]} needs the '{extra}' extra (no module named 'torch'): "
            f"pip install 'edgeguard[{extra}]'",
            [],
        )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_camera_on_an_engine_never_imports_torch(shipped: Path, tmp_path: Path) -> None:
    r, loaded, err = runtime_cli(
        "camera", "-e", str(shipped), "-i", "synthetic:stop-sign?frames=6", "--width", "320", "--height",
        "240", "--stage", "jpeg:75", "--summary", str(tmp_path / "s.json"),
    )  # fmt: skip
    assert r.returncode == 0 and loaded == [], err
    s = json.loads((tmp_path / "s.json").read_text())
    assert s["frames"] == 6 and s["stopped_by"] == "end of source" and "stage:jpeg" in s["stage_ms"]


@pytest.mark.slow
def test_demo_runs_the_shipped_engine_without_torch(
    shipped: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_cache = tmp_path / "cache"
    monkeypatch.setenv("EDGEGUARD_CACHE", str(env_cache))  # inherited by the subprocess
    r, loaded, err = runtime_cli("demo", "--out-dir", str(tmp_path / "out"))
    assert r.returncode == 0 and loaded == [], err
    assert (
        err.splitlines()[0]
        == f"runtime install: running the demo engine shipped with edgeguard ({shipped.name})"
    )
    undefended = default.shipped_engine_path(default.UNDEFENDED)
    assert f"running the demo engine shipped with edgeguard ({undefended.name})" in err
    s = json.loads((tmp_path / "out" / default.SUMMARY).read_text())
    assert s["frames"] == 240 and s["labels"].get("stop", 0) > 120  # the drive-by reads stop
    assert s["attack"]["compare"]["engine"] == "signs" and s["attack"]["sticker"] == "stop-bars"
    assert not any(env_cache.glob("*.onnx"))  # nothing exported


@pytest.mark.slow
def test_shipped_undefended_engine_equals_a_fresh_export(tmp_path: Path) -> None:
    """The demo's undefended comparison engine (bare ``signs``) is what `make demo-engine` writes."""
    from edgeguard.engines import open_engine
    from edgeguard.engines.onnxruntime import read_onnx_manifest
    from edgeguard.samples import photo_batch

    shipped_bare = default.shipped_engine_path(default.UNDEFENDED)
    assert shipped_bare.is_file() and manifest.sidecar_path(shipped_bare).is_file(), "run `make demo-engine`"
    fresh = default.write_shipped_engine(tmp_path, spec=default.UNDEFENDED)
    assert fresh.name == shipped_bare.name == "signs.onnx"
    x = photo_batch(6, (64, 64))
    with open_engine(shipped_bare, provider="cpu") as a, open_engine(fresh, provider="cpu") as b:
        np.testing.assert_allclose(a({"input": x})["logits"], b({"input": x})["logits"], rtol=0, atol=1e-5)

    def comparable(m: manifest.Manifest) -> manifest.Manifest:
        return dataclasses.replace(m, provenance=dataclasses.replace(m.provenance, versions={}, parity=None))

    side = manifest.load_sidecar(manifest.sidecar_path(shipped_bare))
    assert side.defenses == () and side.detector is None
    assert comparable(side) == comparable(manifest.load_sidecar(manifest.sidecar_path(fresh)))
    assert comparable(read_onnx_manifest(shipped_bare)) == comparable(read_onnx_manifest(fresh))
    assert side.provenance.source.weights == "edgeguard/models/weights/signs-resnet.safetensors"


@pytest.mark.slow
def test_shipped_demo_engine_equals_a_fresh_export(shipped: Path, tmp_path: Path) -> None:
    """The shipped engine is what `make demo-engine` would write today: same outputs on real photos,
    same manifest apart from provenance (library versions, the parity measurement)."""
    from edgeguard.engines import open_engine
    from edgeguard.engines.onnxruntime import read_onnx_manifest
    from edgeguard.samples import photo_batch

    fresh = default.write_shipped_engine(tmp_path)
    assert fresh.name == shipped.name
    x = photo_batch(6, (64, 64))
    with open_engine(shipped, provider="cpu") as a, open_engine(fresh, provider="cpu") as b:
        ya, yb = a({"input": x})["logits"], b({"input": x})["logits"]
    np.testing.assert_allclose(ya, yb, rtol=0, atol=1e-5)
    with open_engine(shipped, provider="cpu") as a, open_engine(fresh, provider="cpu") as b:
        np.testing.assert_allclose(
            a({"input": x})["adv_score"], b({"input": x})["adv_score"], rtol=0, atol=1e-5
        )

    def comparable(m: manifest.Manifest) -> manifest.Manifest:
        # τ is an order statistic of float scores: equal up to float noise across machines (checked below)
        det = dataclasses.replace(m.detector, threshold=0.0)
        return dataclasses.replace(
            m, provenance=dataclasses.replace(m.provenance, versions={}, parity=None), detector=det
        )

    side = manifest.load_sidecar(manifest.sidecar_path(shipped))
    fresh_side = manifest.load_sidecar(manifest.sidecar_path(fresh))
    assert side.detector.threshold == pytest.approx(fresh_side.detector.threshold, abs=1e-5)
    assert comparable(side) == comparable(manifest.load_sidecar(manifest.sidecar_path(fresh)))
    assert comparable(read_onnx_manifest(shipped)) == comparable(read_onnx_manifest(fresh))
    # no build path in the shipped manifest:
    assert side.provenance.source.weights == "edgeguard/models/weights/signs-resnet.safetensors"
