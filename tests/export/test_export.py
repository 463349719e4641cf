"""Export: the ONNX graph computes what torch computes, carries its manifest, and fails cleanly."""

from __future__ import annotations

import dataclasses

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from edgeguard import manifest as mf
from edgeguard.errors import ConfigError, EngineError, ModelError
from edgeguard.exporter.onnx import export
from edgeguard.samples import photo_batch


def _run(path, x):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {"input": x})[0]


@pytest.fixture(scope="module")
def r18(tmp_path_factory):
    out = tmp_path_factory.mktemp("r18") / "r18.onnx"
    return export("resnet18", defense=["bits:5", "median:3x3"], input_size=96, out=out)


def test_export_parity_and_manifest(r18):
    assert r18.parity.ok and r18.parity.max_rel <= 1e-4 and r18.parity.top1_agreement == 1.0
    model = onnx.load(str(r18.path))
    data = mf.read_embedded(model)
    side = mf.load_sidecar(r18.sidecar)
    assert side.engine == "r18.onnx" and dataclasses.replace(side, engine=None) == data == r18.manifest
    assert data.defenses == ("bits:bits=5", "median:kernel=3x3")
    assert data.input.size == (96, 96) and data.opset == 17
    assert data.labels and len(data.labels) == 1000  # torchvision ImageNet metadata, offline
    assert data.provenance.source.init == "random(seed=0)" and len(data.provenance.source.sha256) == 64
    assert {"torch", "onnx", "onnxruntime", "edgeguard"} <= set(data.provenance.versions)
    ops = {n.op_type for n in model.graph.node}
    assert {"Round", "Min", "Max"} <= ops and not ops & {"Sort", "ReduceMedian"}


def test_exported_graph_equals_torch_eager_with_dynamic_batch(r18):
    import torchvision

    from edgeguard.defenses import bit_depth_reduce, median_smooth

    torch.manual_seed(0)  # export builds random weights under seed 0
    net = torchvision.models.resnet18().eval()
    x = photo_batch(3, (96, 96))
    with torch.no_grad():
        t = torch.from_numpy(x)
        t = median_smooth(bit_depth_reduce(t, 5), (3, 3))
        mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        ref = net((t - mean) / std).numpy()
    got = _run(r18.path, x)
    assert got.shape == (3, 1000)
    assert np.abs(got - ref).max() / np.abs(ref).max() <= 1e-4


def test_weights_round_trip(tmp_path):
    import torchvision
    from safetensors.torch import save_file

    net = torchvision.models.resnet18(num_classes=7)
    torch.save(net.state_dict(), tmp_path / "w.pt")
    save_file(net.state_dict(), str(tmp_path / "w.safetensors"))
    a = export("resnet18", weights=tmp_path / "w.pt", input_size=64, out=tmp_path / "a.onnx")
    b = export("resnet18", weights=tmp_path / "w.safetensors", input_size=64, out=tmp_path / "b.onnx")
    x = photo_batch(2, (64, 64))
    np.testing.assert_allclose(_run(a.path, x), _run(b.path, x), atol=1e-6)
    assert a.manifest.labels is None  # 7 classes: ImageNet names would be wrong
    assert a.manifest.provenance.source.init == "file"


def test_compose_onto_existing_onnx(r18, tmp_path):
    res = export(str(r18.path), defense=["median:1x3"], normalize="none", out=tmp_path / "c.onnx")
    x = photo_batch(2, (96, 96))
    from edgeguard.defenses import median_smooth

    pre = median_smooth(torch.from_numpy(x), (1, 3)).numpy()
    np.testing.assert_allclose(_run(res.path, x), _run(r18.path, pre), rtol=0, atol=1e-4)
    assert res.manifest.defenses == ("median:kernel=1x3",)
    assert res.manifest.provenance.source.init == "onnx"


def test_bad_inputs(tmp_path):
    with pytest.raises(ConfigError, match="did you mean resnet50"):
        export("resnet05")
    with pytest.raises(ModelError, match="does not exist"):
        export("resnet18", weights=tmp_path / "nope.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(ModelError, match="cannot read weights"):
        export("resnet18", weights=tmp_path / "junk.pt")
    import torchvision

    torch.save(torchvision.models.mobilenet_v3_small().state_dict(), tmp_path / "mnv3.pt")
    with pytest.raises(ModelError, match="do not fit resnet18.*missing"):
        export("resnet18", weights=tmp_path / "mnv3.pt")
    (tmp_path / "bad.onnx").write_bytes(b"garbage")
    with pytest.raises(EngineError, match="not a valid ONNX"):
        export(str(tmp_path / "bad.onnx"))
    with pytest.raises(ConfigError, match="opset"):
        export("resnet18", opset=11)
    with pytest.raises(ConfigError, match="must end in .onnx"):
        export("resnet18", input_size=32, out=tmp_path / "x.trt")


def test_parity_failure_writes_nothing(tmp_path, monkeypatch):
    import edgeguard.exporter.onnx as eo

    keep = tmp_path / "r.onnx"
    keep.write_bytes(b"previous good file")
    monkeypatch.setattr(eo, "check_onnx", lambda *a, **k: eo.Parity(1, 1.0, 0.5, 1e-4, 0.0))
    with pytest.raises(EngineError, match="parity check failed"):
        export("resnet18", input_size=32, out=keep)
    assert keep.read_bytes() == b"previous good file"
    assert not list(tmp_path.glob(".r.*"))
