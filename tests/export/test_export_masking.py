"""``export --masking``: the signs engine with its masked copies, its manifest, and the pipeline's
double-masking decision against the same computation in torch eager."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import edgeguard
import edgeguard.errors
from edgeguard.certify import apply, mask_set_of
from edgeguard.defenses.masking import MaskedCopies
from edgeguard.exporter.wrap import DefendedModel, Normalize


@pytest.fixture(scope="module")
def masked(tmp_path_factory) -> edgeguard.exporter.onnx.ExportResult:
    out = tmp_path_factory.mktemp("masking") / "signs-mask.onnx"
    return edgeguard.export("signs", masking="patch=0.25", out=out, parity_images=2)


@pytest.fixture(scope="module")
def stops() -> tuple[np.ndarray, np.ndarray]:
    from edgeguard.data import TEST_SEED, SignDataset

    ds = SignDataset(2, TEST_SEED)
    x = torch.stack([ds[i][0] for i in range(len(ds))]).numpy()
    return x[:2], np.array([ds[i][1] for i in range(2)])


def _torch_reference(m) -> torch.nn.Module:
    from edgeguard import models

    net, info = models.build("signs")
    f = DefendedModel(net, [], Normalize(info.mean, info.std)).eval()
    ms = mask_set_of(m)
    return MaskedCopies(f, ms).eval(), ms


@pytest.mark.slow
def test_masked_export_records_the_geometry_and_passes_parity_on_both_outputs(masked):
    m = masked.manifest
    assert m.outputs == ("logits", "mask_logits") and masked.parity.ok
    k = m.masking
    assert (k.patch, k.patch_px, k.mask_px, k.stride_px, k.count, k.fill) == (0.25, 16, 24, 9, 36, 0.5)
    assert edgeguard.manifest.load_sidecar(masked.sidecar).masking == k


@pytest.mark.slow
def test_pipeline_double_masking_equals_torch_eager(masked, stops):
    x, _ = stops
    model, ms = _torch_reference(masked.manifest)
    with edgeguard.load(masked.path) as pipe:
        results = pipe.run_batch(x)
    with torch.no_grad():
        logits, first = model(torch.from_numpy(x))
    for b, r in enumerate(results):
        np.testing.assert_allclose(r.outputs["mask_logits"], first[b].numpy(), rtol=1e-4, atol=1e-4)
        preds = first[b].argmax(-1).numpy()
        if np.unique(preds).size == 1:  # unanimous: certified iff all 36×36 two-mask predictions agree
            copies = np.concatenate([apply(x[b : b + 1], ms, i) for i in range(ms.count)])
            with torch.no_grad():
                two = model(torch.from_numpy(copies))[1].argmax(-1).numpy()
            assert r.decision["masking"]["index"] == preds[0] and r.decision["masking"]["case"] == "agree"
            assert r.certified == bool((two == preds[0]).all())
        else:
            assert r.certified is False and r.decision["masking"]["case"] in ("minority", "majority")
        assert r.to_dict()["certified"] == r.certified


class _Counting:
    """An engine wrapper counting calls (the Pipeline needs only ``__call__``, ``manifest``, …)."""

    def __init__(self, engine) -> None:
        self.engine, self.calls = engine, 0

    def __getattr__(self, name):
        return getattr(self.engine, name)

    def __call__(self, x):
        self.calls += 1
        return self.engine(x)


@pytest.mark.slow
def test_without_certify_the_engine_runs_once_unless_the_first_round_disagrees(masked, stops):
    x, _ = stops
    with edgeguard.load(masked.path) as pipe:
        engine = _Counting(pipe.engine)
        pipe = edgeguard.Pipeline(engine, certify=False)
        results = pipe.run_batch(x)
    disagree = sum(r.decision["masking"]["second_round"] for r in results)
    assert engine.calls == 1 + disagree
    for r in results:
        if r.decision["masking"]["case"] == "agree":
            assert r.certified is None and r.decision["masking"]["second_round"] == 0


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"masking": "patch=0"}, "0 < patch < 1"),
        ({"masking": "patch=0.9,masks=1"}, "larger than the image"),
        ({"masking": "patch=0.25", "detector": "squeeze:bits=4"}, "cannot be combined"),
        ({"masking": "patch=0.25", "precision": "fp16"}, "fp32 only"),
        ({"masking": 0.25}, "expected options such as patch=0.25"),
    ],
)
def test_bad_masking_options_are_config_errors_and_write_nothing(tmp_path: Path, options, match):
    with pytest.raises(edgeguard.errors.ConfigError, match=match):
        edgeguard.export("signs", out=tmp_path / "x.onnx", **options)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--masking", "patch=1"], "0 < patch < 1"),
        (["--masking", "patch=0.9,masks=1"], "larger than the image"),
    ],
)
def test_bad_masking_options_are_one_line_exit_2(cli, tmp_path: Path, args, match):
    r = cli("export", "signs", *args, "--out", str(tmp_path / "x.onnx"))
    assert r.returncode == 2 and match in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_infer_json_and_text_carry_the_certificate(masked, tmp_path: Path, capsys):
    import json

    import cv2

    from edgeguard.cli.app import main
    from edgeguard.data.render import render_scene

    img = tmp_path / "stop.png"
    cv2.imwrite(str(img), render_scene("stop", (2, 5))[:, :, ::-1])
    for extra in (["--json"], []):
        with pytest.raises(SystemExit) as done:
            main(["infer", "-e", str(masked.path), str(img), *extra])
        assert done.value.code in (0, None)
        text = capsys.readouterr().out
        if extra:
            d = json.loads(text.splitlines()[0])
            assert isinstance(d["certified"], bool) and d["masking"]["patch"] == 0.25
            assert d["masking"]["label"] in masked.manifest.labels
        else:
            assert "double masking:" in text and "sticker of 0.25 of the face" in text
