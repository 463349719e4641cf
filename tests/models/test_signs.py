"""The embedded sign models: registry entries, shipped weights, ONNX export, bad weights."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch
from safetensors.torch import save_file

from edgeguard.data import LABELS, TEST_SEED, SignDataset, render_arrays
from edgeguard.errors import ConfigError, ModelError
from edgeguard.layers import DenoiseBlock
from edgeguard.models import REGISTRY, WEIGHTS_DIR, build
from edgeguard.models.signs import SIGNS_MEAN, SIGNS_STD
from edgeguard.train import Normalized
from edgeguard.train_eval import predict


def test_registered_with_aliases_and_model_info() -> None:
    for name, alias in (("signs-resnet", "signs"), ("signs-resnet-denoise", "signs-denoise")):
        assert name in REGISTRY and alias in REGISTRY
        assert REGISTRY.get(name).factory is REGISTRY.get(alias).factory
        model, info = build(alias)
        assert info.input_size == (64, 64) and info.labels == list(LABELS) and info.task == "classification"
        assert info.mean == SIGNS_MEAN and info.std == SIGNS_STD
        assert info.weights == str(WEIGHTS_DIR / f"{name}.safetensors")
        assert not model.training
        assert model(torch.zeros(2, 3, 64, 64)).shape == (2, len(LABELS))
    _, info = build("signs-resnet-denoise")
    assert sum(isinstance(m, DenoiseBlock) for m in build("signs-denoise")[0].modules()) == 2
    with pytest.raises(ConfigError, match="did you mean"):
        build("signs-resnt")


def test_shipped_weights_are_small() -> None:
    for name in ("signs-resnet", "signs-resnet-denoise"):
        path = WEIGHTS_DIR / f"{name}.safetensors"
        assert path.is_file() and path.stat().st_size < 4_000_000
        assert (WEIGHTS_DIR / f"{name}.json").is_file()


def test_wrong_or_corrupt_weights_name_the_problem(tmp_path) -> None:
    with pytest.raises(ModelError, match=r"missing \(e\.g\. layer2\.1\.conv\.weight"):
        build("signs-resnet-denoise", weights=WEIGHTS_DIR / "signs-resnet.safetensors")
    with pytest.raises(ModelError, match="unexpected"):
        build("signs-resnet", weights=WEIGHTS_DIR / "signs-resnet-denoise.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00garbage, not a safetensors file")
    with pytest.raises(ModelError, match="cannot read weights bad.safetensors"):
        build("signs-resnet", weights=bad)
    net, _ = build("signs-resnet")
    sd = {k: v for k, v in net.state_dict().items()}
    sd["fc.weight"] = torch.zeros(5, sd["fc.weight"].shape[1])
    save_file(sd, str(tmp_path / "shape.safetensors"))
    with pytest.raises(ModelError, match="wrong shape.*fc.weight"):
        build("signs-resnet", weights=tmp_path / "shape.safetensors")


@pytest.mark.parametrize("name", ["signs-resnet", "signs-resnet-denoise"])
def test_export_prepends_normalisation_and_matches_torch(name: str, tmp_path) -> None:
    """The exported graph takes [0, 1] pixels (normalisation from ModelInfo) and matches torch."""
    from edgeguard.exporter.onnx import export

    out = tmp_path / f"{name}.onnx"
    export(name, out=out)
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    x, _ = render_arrays(SignDataset(6, TEST_SEED))
    xb = torch.from_numpy(x).permute(0, 3, 1, 2).float().div(255)
    got = sess.run(None, {sess.get_inputs()[0].name: xb.numpy()})[0]
    net, info = build(name)
    with torch.no_grad():
        want = Normalized(net, info.mean, info.std)(xb).numpy()
    assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max()
    assert (got.argmax(1) == want.argmax(1)).all()


def test_shipped_weights_reach_stated_clean_accuracy() -> None:
    """Fast version of the README measurement (`edgeguard train eval`): 300 held-out rendered images."""
    x, y = render_arrays(SignDataset(300, TEST_SEED), workers=2)
    # measured on 2,600 images: 99.6 % and 94.1 % (edgeguard/models/weights/signs-eval.json)
    for name, floor in (("signs-resnet", 0.97), ("signs-resnet-denoise", 0.9)):
        net, info = build(name)
        acc = float((predict(Normalized(net, info.mean, info.std), x) == y).mean())
        assert acc >= floor, (name, acc)
