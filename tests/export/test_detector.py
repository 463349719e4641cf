"""``export --detector``: one graph with logits + adv_score equal to torch, τ from the engine's own scores,
the manifest's detector part, and what users see (infer --json, --escalate warnings)."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

import edgeguard
from edgeguard import defenses, manifest, models
from edgeguard.data.dataset import TEST_SEED, VAL_SEED, write_image_folder
from edgeguard.defenses.squeeze import SqueezeDetector, from_spec, threshold_at_fpr
from edgeguard.engines.onnxruntime import OnnxRuntimeEngine, read_onnx_manifest
from edgeguard.errors import ConfigError
from edgeguard.exporter.detector import engine_scores
from edgeguard.exporter.quantize import folder_digest, list_images, load_batch
from edgeguard.exporter.wrap import DefendedModel, Normalize
from edgeguard.samples import photo_batch

DEFENSES = ["bits:5", "median:3x3"]
DETECTOR = "squeeze:bits=3,median=2x2"


@pytest.fixture(scope="module")
def calib(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_image_folder(tmp_path_factory.mktemp("calib"), per_class=3, seed=VAL_SEED)  # 39 images


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory, calib: Path) -> Path:
    out = tmp_path_factory.mktemp("det") / "signs-det.onnx"
    edgeguard.export(
        "signs", defense=DEFENSES, detector=DETECTOR, detector_fpr=0.1, detector_calib=calib, out=out
    )
    return out


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("plain") / "signs.onnx"
    edgeguard.export("signs", defense=DEFENSES, out=out, parity_images=1)
    return out


def _torch_detector() -> SqueezeDetector:
    net, info = models.build("signs", None)
    f = DefendedModel(net, [defenses.from_spec(d) for d in DEFENSES], Normalize(info.mean, info.std))
    return SqueezeDetector(f, from_spec(DETECTOR)).eval()


@pytest.mark.slow
def test_graph_equals_the_torch_computation_on_both_outputs(engine, calib):
    m = manifest.load_sidecar(manifest.sidecar_path(engine))
    x = np.concatenate([photo_batch(3, (64, 64)), load_batch(list_images(calib)[:9], m)])
    with OnnxRuntimeEngine(engine, provider="cpu") as ort:
        assert [o.name for o in ort.outputs] == ["logits", "adv_score"]
        got = ort({"input": x})
    with torch.no_grad():
        logits, score = _torch_detector()(torch.from_numpy(x))
    np.testing.assert_allclose(got["logits"], logits.numpy(), rtol=0, atol=1e-4)
    np.testing.assert_allclose(got["adv_score"], score.numpy(), rtol=0, atol=1e-5)
    assert got["adv_score"].shape == (12,) and score.max() > 0.1  # the score really varies


@pytest.mark.slow
def test_manifest_records_tau_from_the_engines_own_scores(engine, calib):
    m = manifest.load_sidecar(manifest.sidecar_path(engine))
    assert m.outputs == ("logits", "adv_score")
    det = m.detector
    assert det.output == "adv_score" and det.spec == DETECTOR and det.fpr == 0.1
    files = list_images(calib)
    assert det.calibration == manifest.DetectorCalibration(
        source=f"folder {calib.name}", images=39, sha256=folder_digest(calib, files)
    )
    scores = engine_scores(engine, load_batch(files, m))
    assert det.threshold == threshold_at_fpr(scores, 0.1)
    assert int((scores > det.threshold).sum()) == 3  # ⌊0.1 · 39⌋ calibration images lie above τ
    assert dataclasses.replace(read_onnx_manifest(engine), engine=m.engine) == m  # embedded == sidecar
    assert manifest.loads(manifest.dumps(m)) == m


@pytest.mark.slow
def test_fp16_engine_gets_the_tau_of_its_own_scores(tmp_path, calib):
    out = tmp_path / "signs-fp16.onnx"
    edgeguard.export(
        "signs",
        defense=DEFENSES,
        detector=DETECTOR,
        detector_calib=calib,
        precision="fp16",
        out=out,
        parity_images=1,
    )
    m = manifest.load_sidecar(manifest.sidecar_path(out))
    assert m.precision.mode == "fp16" and m.outputs == ("logits", "adv_score")
    fp16_scores = engine_scores(out, load_batch(list_images(calib), m))
    assert m.detector.threshold == threshold_at_fpr(fp16_scores, 0.05)


@pytest.mark.slow
def test_tau_gives_the_requested_fpr_on_held_out_clean_images(engine, tmp_path):
    """τ set at FPR 0.1 on 39 images flags ~10 % of new clean images. With k = ⌊0.1·39⌋ = 3 scores above
    the order statistic τ, the true FPR is Beta(k+1, n−k) over calibration draws, so the flagged count
    among N held-out images is beta-binomial(N, 4, 36); the test asserts its 99.9 % interval."""
    from scipy.stats import betabinom

    m = manifest.load_sidecar(manifest.sidecar_path(engine))
    held = write_image_folder(tmp_path / "held", per_class=12, seed=TEST_SEED)  # 156 images, disjoint
    scores = engine_scores(engine, load_batch(list_images(held), m))
    flagged = int((scores > m.detector.threshold).sum())
    lo, hi = betabinom(len(scores), 3 + 1, 39 - 3).interval(0.999)
    assert lo <= flagged <= hi, (flagged, lo, hi)


def test_default_calibration_is_only_for_the_sign_models_and_options_are_checked(tmp_path):
    out = tmp_path / "x.onnx"
    with pytest.raises(ConfigError, match="needs --detector-calib DIR"):
        edgeguard.export("resnet18", detector="squeeze:median=2x2", out=out)
    with pytest.raises(ConfigError, match="--detector-fpr 1.5"):
        edgeguard.export("signs", detector="squeeze:median=2x2", detector_fpr=1.5, out=out)
    with pytest.raises(ConfigError, match="--detector-calib needs --detector"):
        edgeguard.export("signs", detector_calib=tmp_path, out=out)
    with pytest.raises(ConfigError, match="squeezer bits=5 is redundant"):
        edgeguard.export("signs", defense=DEFENSES, detector="squeeze:bits=5,median=2x2", out=out)
    with pytest.raises(ConfigError, match="with an .onnx MODEL is not supported"):
        edgeguard.export(str(tmp_path / "m.onnx"), detector="squeeze:median=2x2", out=out)
    assert not list(tmp_path.iterdir())  # nothing written


@pytest.mark.slow
def test_pipeline_result_carries_adv_score_and_flagged(engine, plain):
    m = manifest.load_sidecar(manifest.sidecar_path(engine))
    x = photo_batch(2, (64, 64))
    with edgeguard.load(engine) as pipe:
        results = pipe.run_batch(x)
    with OnnxRuntimeEngine(engine, provider="cpu") as ort:
        scores = ort({"input": x})["adv_score"]
    for r, s in zip(results, scores):
        assert r.adv_score == pytest.approx(float(s)) and r.flagged == (float(s) > m.detector.threshold)
        assert r.to_dict()["adv_score"] == r.adv_score and r.to_dict()["flagged"] is r.flagged
    with edgeguard.load(plain) as pipe:
        r = pipe.run_batch(x)[0]
    assert r.adv_score is None and r.flagged is False
    assert r.to_dict()["adv_score"] is None and r.to_dict()["flagged"] is False


@pytest.mark.slow
def test_escalate_without_a_detector_warns_once(plain, engine, caplog):
    with caplog.at_level(logging.WARNING, logger="edgeguard.pipeline"):
        edgeguard.load(plain, escalate="tvm")
    assert [r.getMessage() for r in caplog.records] == [
        "warning: --escalate tvm will never run: the engine has no detector output to flag frames "
        "(export it with --detector, e.g. squeeze:median=2x2)"
    ]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="edgeguard.pipeline"):
        edgeguard.load(engine, escalate="tvm")
    assert not caplog.records


@pytest.mark.slow
def test_infer_json_and_escalate_warning_on_the_cli(engine, plain, cli, tmp_path):
    img = tmp_path / "stop.png"
    import cv2

    cv2.imwrite(str(img), (photo_batch(1, (64, 64))[0].transpose(1, 2, 0)[:, :, ::-1] * 255).astype(np.uint8))
    r = cli("infer", "-e", str(engine), str(img), "--json")
    assert r.returncode == 0, r.stderr
    row = json.loads(r.stdout.splitlines()[-1])
    assert isinstance(row["adv_score"], float) and isinstance(row["flagged"], bool)
    r = cli("infer", "-e", str(plain), str(img), "--json", "--escalate", "tvm")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.splitlines()[-1])["adv_score"] is None
    assert r.stderr.strip().splitlines() == [
        "warning: --escalate tvm will never run: the engine has no detector output to flag frames "
        "(export it with --detector, e.g. squeeze:median=2x2)"
    ]


def test_escalated_frame_keeps_the_first_pass_flag(engine):
    """A flagged frame stays flagged after escalation (its event must fire) even when the purified
    copy is not flagged; the reading is the purified one and the second pass's score is kept aside."""
    x = photo_batch(2, (64, 64))
    x[1] = np.where(np.indices(x[1].shape).sum(0) % 2 == 0, 0.0, 1.0)  # a checkerboard: squeezers change it
    bare = edgeguard.load(engine).run_batch(x)
    assert bare[1].flagged and not bare[0].flagged  # the oracle for the escalation below

    def to_clean(batch: np.ndarray) -> np.ndarray:  # "purification" that returns the clean image
        return np.repeat(x[:1], len(batch), axis=0)

    res = edgeguard.load(engine, escalate=to_clean).run_batch(x)
    assert res[0].escalation is None and res[0].decision == bare[0].decision
    esc = res[1].escalation
    assert esc is not None and res[1].flagged and res[1].adv_score == bare[1].adv_score
    assert esc["after"] == {"adv_score": bare[0].adv_score, "flagged": False}
    assert res[1].decision["top"] == bare[0].decision["top"]  # the purified reading
