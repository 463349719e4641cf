"""Triton model repositories: every config.pbtxt parses into Triton's own ModelConfig protobuf and
describes the ONNX graph it serves (names, data types, dims); existing models are never overwritten."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import onnx
import pytest
from google.protobuf import text_format

from edgeguard import manifest as mf
from edgeguard.camera import default
from edgeguard.errors import ConfigError
from edgeguard.exporter.triton import write_repository
from tests.fakes import graphs
from tests.fakes.tiny import export_tiny
from tests.fakes.tiny_yolo import tiny_yolo_onnx

pb = pytest.importorskip("tritonclient.grpc.model_config_pb2", reason="the 'triton' extra is not installed")
from tritonclient.utils import np_to_triton_dtype  # noqa: E402  (after the extra's check)

SHA = "0" * 64


def parse(folder: Path) -> pb.ModelConfig:
    return text_format.Parse((folder / "config.pbtxt").read_text(encoding="utf-8"), pb.ModelConfig())


def onnx_io(path: Path) -> tuple[list, list]:
    """(name, Triton data type, full shape with -1 for dynamic axes) of the graph's inputs and outputs,
    read with onnx and typed with tritonclient's own numpy → Triton mapping (the oracle)."""
    g = onnx.load(str(path)).graph
    inits = {t.name for t in g.initializer}

    def rows(values) -> list:
        out = []
        for v in values:
            if v.name in inits:
                continue
            t = v.type.tensor_type
            dtype = "TYPE_" + np_to_triton_dtype(onnx.helper.tensor_dtype_to_np_dtype(t.elem_type))
            dims = [d.dim_value if d.HasField("dim_value") else -1 for d in t.shape.dim]
            out.append((v.name, dtype, dims))
        return out

    return rows(g.input), rows(g.output)


def check_matches_graph(cfg: pb.ModelConfig, graph: Path) -> None:
    """The config's tensors are the graph's: batch axis dropped when batching, (B,) → [1] + reshape []."""
    ins, outs = onnx_io(graph)
    for tensors, rows in ((cfg.input, ins), (cfg.output, outs)):
        assert [t.name for t in tensors] == [r[0] for r in rows]
        for t, (_, dtype, dims) in zip(tensors, rows):
            assert pb.DataType.Name(t.data_type) == dtype
            if cfg.max_batch_size == 0:
                assert list(t.dims) == dims and not t.HasField("reshape")
            elif len(dims) == 1:
                assert list(t.dims) == [1] and t.HasField("reshape") and list(t.reshape.shape) == []
            else:
                assert dims[0] == -1 and list(t.dims) == dims[1:] and not t.HasField("reshape")


@pytest.fixture(scope="module")
def shipped() -> Path:
    return default.shipped_engine_path()


def test_shipped_engine_with_detector_output(shipped: Path, tmp_path: Path) -> None:
    res = write_repository(shipped, tmp_path / "repo", name="signs")
    folder = tmp_path / "repo" / "signs"
    cfg = parse(folder)
    assert (cfg.name, cfg.platform, cfg.max_batch_size) == ("signs", "onnxruntime_onnx", 8)
    assert cfg.HasField("dynamic_batching")
    check_matches_graph(cfg, shipped)
    by_name = {o.name: o for o in cfg.output}
    assert list(by_name["adv_score"].dims) == [1] and by_name["adv_score"].HasField("reshape")
    m = mf.read_embedded(onnx.load(str(shipped)))
    assert by_name["logits"].label_filename == "labels.txt"
    assert (folder / "labels.txt").read_text().splitlines() == list(m.labels)
    assert (folder / "1" / "model.onnx").read_bytes() == shipped.read_bytes()
    side = mf.load_sidecar(folder / "1" / "model.edgeguard.json")
    assert side == dataclasses.replace(m, engine="model.onnx")
    in_config = mf.loads(cfg.parameters["edgeguard.manifest"].string_value)
    assert in_config == side and in_config.detector.output == "adv_score"
    assert res.files == ("config.pbtxt", "README.md", "1/model.onnx", "1/model.edgeguard.json", "labels.txt")
    readme = (folder / "README.md").read_text()
    assert "triton://HOST:8001/signs" in readme and "Host stages" in readme


@pytest.mark.slow
def test_tiny_exported_engine_and_host_stages_in_readme(tmp_path: Path) -> None:
    res = export_tiny(tmp_path)
    m = dataclasses.replace(res.manifest, host_stages=("nlm:h=3",))
    mf.save_sidecar(m, res.path)  # sidecar only; the graph keeps its own embedded manifest
    write_repository(res.path, tmp_path / "repo", max_batch=3)
    folder = tmp_path / "repo" / res.path.stem
    cfg = parse(folder)
    assert cfg.max_batch_size == 3
    check_matches_graph(cfg, res.path)
    assert [o.name for o in cfg.output] == ["logits"] and list(cfg.output[0].dims) == [6]
    assert "- `nlm:h=3`" not in (folder / "README.md").read_text()  # the embedded manifest wins
    graph_only = tmp_path / "bare.onnx"
    graph_only.write_bytes(graphs.classifier().SerializeToString())
    mf.save_sidecar(m, graph_only)  # a graph without an embedded manifest: the sidecar is read
    write_repository(graph_only, tmp_path / "repo")
    assert "- `nlm:h=3`" in (tmp_path / "repo" / "bare" / "README.md").read_text()


def test_fixed_batch_graph_keeps_full_dims_and_refuses_max_batch(tmp_path: Path) -> None:
    path = graphs.save(graphs.classifier(shape=(1, 3, 16, 16)), tmp_path)
    model = onnx.load(str(path))
    model.graph.output[0].type.tensor_type.shape.dim[0].dim_value = 1
    onnx.save(model, str(path))
    write_repository(path, tmp_path / "repo")
    cfg = parse(tmp_path / "repo" / "tiny")
    assert cfg.max_batch_size == 0 and not cfg.HasField("dynamic_batching")
    assert list(cfg.input[0].dims) == [1, 3, 16, 16]
    check_matches_graph(cfg, path)
    assert not cfg.parameters  # no manifest: nothing to carry
    with pytest.raises(ConfigError, match="fixed batch axis"):
        write_repository(path, tmp_path / "repo2", max_batch=4)
    assert not (tmp_path / "repo2").exists()


def test_detector_yolo_layout(tmp_path: Path) -> None:
    path = tiny_yolo_onnx(tmp_path / "yolo.onnx")
    write_repository(path, tmp_path / "repo")
    cfg = parse(tmp_path / "repo" / "yolo")
    check_matches_graph(cfg, path)
    assert len(cfg.output[0].dims) == 2 and not cfg.output[0].label_filename  # (4+nc, N): no labels


def _plan(tmp_path: Path, shipped: Path) -> Path:
    """A plan file + sidecar with a build record (batch 1/4/16) and the source ONNX beside it."""
    src = tmp_path / "signs.onnx"
    src.write_bytes(shipped.read_bytes())
    m = mf.read_embedded(onnx.load(str(src)))
    build = mf.TensorRTBuild(
        version="10.3.0",
        onnx="signs.onnx",
        onnx_sha256=SHA,
        device=mf.TensorRTDevice(name="Orin", compute_capability="8.7"),
        precision="fp16",
        strongly_typed=False,
        flags=("FP16",),
        profile=mf.TensorRTProfile(min=1, opt=4, max=16),
        workspace_mb=1024,
        build_seconds=1.0,
    )
    plan = tmp_path / "signs.plan"
    plan.write_bytes(b"plan bytes")
    mf.save_sidecar(dataclasses.replace(m, tensorrt=build), plan)
    return plan


def test_tensorrt_plan_takes_the_profile(tmp_path: Path, shipped: Path) -> None:
    plan = _plan(tmp_path, shipped)
    write_repository(plan, tmp_path / "repo")
    folder = tmp_path / "repo" / "signs"
    cfg = parse(folder)
    assert (cfg.platform, cfg.max_batch_size) == ("tensorrt_plan", 16)
    assert list(cfg.dynamic_batching.preferred_batch_size) == [4, 16]
    check_matches_graph(cfg, shipped)
    assert (folder / "1" / "model.plan").read_bytes() == b"plan bytes"
    assert mf.load_sidecar(folder / "1" / "model.edgeguard.json").tensorrt.profile.max == 16
    with pytest.raises(ConfigError, match="profile ends at 16"):
        write_repository(plan, tmp_path / "repo2", max_batch=32)
    write_repository(plan, tmp_path / "repo3", max_batch=2)
    assert parse(tmp_path / "repo3" / "signs").max_batch_size == 2
    (tmp_path / "signs.onnx").unlink()
    with pytest.raises(ConfigError, match="source ONNX signs.onnx"):
        write_repository(plan, tmp_path / "repo4")


def test_existing_model_same_content_is_a_no_op_different_is_refused(tmp_path: Path, shipped: Path) -> None:
    repo = tmp_path / "repo"
    first = write_repository(shipped, repo, name="m")
    config = (repo / "m" / "config.pbtxt").read_bytes()
    again = write_repository(shipped, repo, name="m")
    assert not first.unchanged and again.unchanged
    other = graphs.save(graphs.classifier(), tmp_path)
    with pytest.raises(ConfigError, match="already holds a different model 'm'") as err:
        write_repository(other, repo, name="m")
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="different model"):
        write_repository(shipped, repo, name="m", max_batch=4)  # same file, different config
    assert (repo / "m" / "config.pbtxt").read_bytes() == config
    assert sorted(p.name for p in repo.iterdir()) == ["m"]  # no temp folder left behind


def test_repository_path_that_is_a_file_and_bad_names(tmp_path: Path, shipped: Path) -> None:
    f = tmp_path / "repo"
    f.write_text("x")
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        write_repository(shipped, f)
    for bad in ("", "../up", ".hidden", "a/b"):
        with pytest.raises(ConfigError, match="Triton model name"):
            write_repository(shipped, tmp_path / "r", name=bad)
    with pytest.raises(ConfigError, match="does not exist"):
        write_repository(shipped, tmp_path / "missing" / "repo")
    with pytest.raises(ConfigError, match="expected an integer ≥ 1"):
        write_repository(shipped, tmp_path / "r", max_batch=0)
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_cli_triton_and_bad_input_exit_2(tmp_path: Path, shipped: Path, cli) -> None:
    r = cli("triton", str(tmp_path / "repo"), "--engine", str(shipped), "--name", "signs")
    assert r.returncode == 0, r.stderr
    assert "max_batch_size 8" in r.stdout
    r = cli("triton", str(tmp_path / "repo"), "--engine", str(shipped), "--name", "signs", "--max-batch", "2")
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert r.stderr.startswith("edgeguard: error: Triton repository") and "different model" in r.stderr
    r = cli("triton", str(tmp_path / "repo" / "signs" / "config.pbtxt"), "--engine", str(shipped))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "is a file" in r.stderr
    cfg = json.loads(parse(tmp_path / "repo" / "signs").parameters["edgeguard.manifest"].string_value)
    want = mf.read_embedded(onnx.load(str(shipped))).detector.threshold
    assert cfg["engine"] == "model.onnx" and cfg["detector"]["threshold"] == want


@pytest.mark.slow
def test_export_triton_flag_writes_the_repository_and_refuses_a_file_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from edgeguard.cli.app import main
    from tests.fakes.tiny import tiny_onnx

    src = tiny_onnx(tmp_path / "tiny.onnx")
    with pytest.raises(SystemExit) as done:
        main(
            [
                "export",
                str(src),
                "-d",
                "bits:5",
                "--out",
                str(tmp_path / "t.onnx"),
                "--triton",
                str(tmp_path / "repo"),
            ]
        )
    assert done.value.code == 0
    cfg = parse(tmp_path / "repo" / "t")
    check_matches_graph(cfg, tmp_path / "t.onnx")
    assert mf.loads(cfg.parameters["edgeguard.manifest"].string_value).defenses == ("bits:bits=5",)
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        main(["export", str(src), "--out", str(tmp_path / "t2.onnx"), "--triton", str(src)])
    err = capsys.readouterr().err
    assert done.value.code == 2 and err.count("\n") == 1 and "is a file" in err
    assert not (tmp_path / "t2.onnx").exists()  # refused before the export wrote anything
    with pytest.raises(SystemExit) as done:
        main(["export", str(src), "--out", str(tmp_path / ".t3.onnx"), "--triton", str(tmp_path / "repo")])
    err = capsys.readouterr().err
    assert done.value.code == 2 and "Triton model name" in err and not (tmp_path / ".t3.onnx").exists()
