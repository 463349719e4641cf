"""Bad specs, parameters and Python API calls: a typed EdgeGuardError with one clear message.

Each case here escaped as a traceback, an untyped exception or a hang before issue #10.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

import edgeguard
from edgeguard import defenses, stages
from edgeguard.errors import ConfigError, EdgeGuardError, InputError, ModelError
from edgeguard.exporter.quantize import list_images
from edgeguard.manifest import InputSpec, Manifest
from edgeguard.models.weights import read_state_dict
from edgeguard.pipeline import Pipeline
from edgeguard.preprocess import load_image
from edgeguard.spec import MAX_NUMBER_CHARS, parse_value


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("noise:path=123", "path must be a file name"),
        ("bits:" + "9" * 5000, f"more than {MAX_NUMBER_CHARS} characters"),
        ("gaussian:sigma=1e308", "sigma must be a number in (0, 100]"),
        ("gaussian:sigma=1e999", "not a finite number"),
        ("gaussian:sigma=1/0", "division by zero"),
    ],
)
def test_bad_defense_specs(spec, needle):
    with pytest.raises(ConfigError) as info:
        defenses.from_spec(spec)
    assert needle in str(info.value) and "\n" not in str(info.value)
    assert len(str(info.value)) < 200  # a 5000-digit value is shortened, not echoed


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("nlm:99999_3_4", "window must be an integer in [3, 51]"),
        ("nlm:11_99_4", "patch must be an integer in [1, 11]"),
        ("nlm:h=1e308", "h must be a number in (0.0, 255.0]"),
        ("kmeans:attempts=100000000", "attempts must be an integer in [1, 20]"),
        ("kmeans:k=100000", "k must be an integer in [2, 256]"),
        ("tvm:iters=100000000", "iters must be an integer in [1, 100000]"),
        ("rof:weight=1e300", "weight must be a number in [1e-06, 100.0]"),
        ("rof:weight=2e-311", "weight must be a number in [1e-06, 100.0]"),
        ("dip:channels=100000", "channels must be an integer in [4, 256]"),
    ],
)
def test_stage_parameters_are_bounded_before_any_work(spec, needle):
    t0 = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        stages.from_spec(spec)
    assert needle in str(info.value)
    assert time.perf_counter() - t0 < 1.0  # nlm:99999_3_4 ran 24 s before, kmeans never returned


def test_bounds_keep_the_paper_settings():
    # Feature Squeezing's NLM 11_3_4 and 13_3_2, seed 000's k-means: still accepted
    assert stages.from_spec("nlm:11_3_4").window == 11
    assert stages.from_spec("nlm:13_3_2").patch == 3
    assert stages.from_spec("kmeans:k=8,attempts=3").attempts == 3
    assert defenses.from_spec("gaussian:sigma=100,size=31").size == 31


def test_parse_value_numbers():
    assert parse_value("8/255") == pytest.approx(8 / 255)
    assert parse_value("1" * MAX_NUMBER_CHARS) == int("1" * MAX_NUMBER_CHARS)
    assert parse_value("x" * 5000) == "x" * 5000  # long strings stay strings (file names)
    with pytest.raises(ConfigError):
        parse_value("1" * (MAX_NUMBER_CHARS + 1))


@pytest.mark.parametrize("name", ["bits", "median", "gaussian"])
def test_defense_modules_refuse_numpy_and_integer_tensors(name):
    mod = defenses.from_spec(name)
    x = np.random.rand(1, 3, 8, 8).astype(np.float32)
    with pytest.raises(InputError, match=r"expected a float torch\.Tensor, got numpy\.ndarray; wrap it"):
        mod(x)
    with pytest.raises(InputError, match="expected a float tensor"):
        mod(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))
    with pytest.raises(InputError, match="axis H of"):
        mod(torch.zeros(1, 3, 0, 8))


@pytest.mark.parametrize("path", [None, 5, "", b"x.onnx"])
def test_load_needs_a_path(path):
    with pytest.raises(ConfigError, match="load: expected the path of an engine"):
        edgeguard.load(path)


class _Engine:
    """An Engine stand-in with a manifest: returns 4 logits per image."""

    manifest = Manifest(input=InputSpec(size=(8, 8)))
    last_ms = 0.0

    def __call__(self, x):
        self.seen = x
        return {"logits": np.tile(np.arange(4, dtype=np.float32), (len(x), 1))}


@pytest.mark.parametrize("crop", ["bogus", (1, 2, 3), (0, 0, 0, 5), (0, 0, 2.5, 5), None, 7])
def test_pipeline_crop_is_checked(crop):
    with pytest.raises(ConfigError, match="crop"):
        Pipeline(_Engine(), crop=crop)


def test_pipeline_crop_forms_accepted():
    assert Pipeline(_Engine(), crop="center").crop == "center"
    assert Pipeline(_Engine(), crop="1,2,3,4").crop == (1, 2, 3, 4)
    assert Pipeline(_Engine(), crop=[1, 2, 3, 4]).crop == (1, 2, 3, 4)


@pytest.mark.parametrize(
    ("batch", "needle"),
    [
        ([np.zeros((3, 8, 8), np.float32)], "got list; np.stack"),
        (np.zeros((1, 3, 0, 8), np.float32), "axis H of (B C H W) is empty"),
        (np.zeros((1, 3, 8, 8), np.complex64), "expected a float array"),
        ("x", "got str"),
    ],
)
def test_run_batch_bad_inputs(batch, needle):
    with pytest.raises(InputError) as info:
        Pipeline(_Engine()).run_batch(batch)
    assert needle in str(info.value)


@pytest.mark.parametrize(
    "batch",
    [
        torch.full((2, 3, 8, 8), 0.5, dtype=torch.bfloat16),
        np.full((2, 3, 8, 8), 0.5, dtype=np.longdouble),
        np.full((2, 3, 8, 8), 0.5, dtype=np.float16),
    ],
)
def test_run_batch_other_float_types_are_converted(batch):
    eng = _Engine()
    res = Pipeline(eng).run_batch(batch)
    assert len(res) == 2 and eng.seen.dtype == np.float32 and np.all(eng.seen == 0.5)


@pytest.mark.parametrize("frames", [None, np.zeros((8, 8, 3), np.uint8), "a.png", 3])
def test_pipeline_call_needs_a_list(frames):
    with pytest.raises(InputError, match="expected a list of BGR uint8 frames"):
        Pipeline(_Engine())(frames)


def test_all_of_the_above_are_edgeguard_errors():
    assert issubclass(ConfigError, EdgeGuardError) and issubclass(InputError, EdgeGuardError)


@pytest.mark.parametrize(
    ("fn", "size"), [("gaussian:sigma=5", 12), ("median:5x5", 1), ("gaussian:sigma=1", 2)]
)
def test_filters_wider_than_the_image_fail_typed(fn, size):
    # found by tests/fuzz: a 31-tap gaussian on a 12x12 batch silently returned a 6x6 one
    with pytest.raises(InputError, match="smaller than the filter reaches"):
        defenses.from_spec(fn)(torch.rand(1, 3, size, size))
    ok = defenses.from_spec(fn)(torch.rand(1, 3, 16, 16))
    assert ok.shape == (1, 3, 16, 16)


LONG = "/tmp/" + "a" * 300


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: load_image(LONG + ".png"), InputError),
        (lambda: read_state_dict(LONG + ".pt"), ModelError),
        (lambda: defenses.from_spec(f"noise:path={LONG}.npy"), ConfigError),
        (lambda: list_images(LONG), ConfigError),
        (lambda: edgeguard.load(LONG + ".onnx"), ConfigError),
        (lambda: edgeguard.export(LONG + ".onnx"), ConfigError),
    ],
)
def test_300_character_paths(call, error):
    # pathlib's is_file() raises OSError(ENAMETOOLONG) for these instead of answering
    with pytest.raises(error, match="a name of 30[0-9] bytes is longer than file systems allow"):
        call()


@pytest.mark.parametrize("engine", [".", "..", "a" * 300 + ".onnx"])
def test_sidecar_engine_names(tmp_path, engine):
    import json

    from edgeguard import manifest as mf

    data = mf.new(
        input_size=(8, 8),
        mean=(0.0, 0.0, 0.0),
        std=(1.0, 1.0, 1.0),
        labels=None,
        defenses=[],
        source={"model": "x", "sha256": "0" * 64},
        versions={"edgeguard": "0"},
    )
    side = tmp_path / "m.edgeguard.json"
    side.write_text(json.dumps(dict(mf.to_dict(data), engine=engine)))
    with pytest.raises(ConfigError, match="engine") as info:
        edgeguard.load(side)
    assert (
        "manifest field" in str(info.value)
        or "must name a file next to it" in str(info.value)
        or ("longer than file systems allow" in str(info.value))
    )


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        (dict(top="x"), "top 'x': expected an integer"),
        (dict(top=True), "top True"),
        (dict(host_stages=[5]), "host stage 5: expected a callable"),
        (dict(escalate="nope"), "host stage 'nope'"),
        (dict(gate=3), "gate 3: expected a callable"),
    ],
)
def test_pipeline_arguments(kwargs, needle):
    with pytest.raises(ConfigError) as info:
        Pipeline(_Engine(), **kwargs)
    assert needle in str(info.value)


@pytest.mark.parametrize("engine", [None, "model.onnx", np.zeros(3)])
def test_pipeline_needs_an_engine(engine):
    with pytest.raises(ConfigError, match="expected an Engine"):
        Pipeline(engine)


def test_load_unknown_option_is_named():
    with pytest.raises(ConfigError, match="load: unknown option 'bogus'"):
        edgeguard.load("x.onnx", bogus=1)


@pytest.mark.parametrize(
    ("frame", "needle"),
    [
        ([[1, 2]], "expected a numpy image (H, W, 3) uint8 BGR, got list"),
        (np.zeros((0, 4, 3), np.uint8), "empty"),
    ],
)
def test_pipeline_frames(frame, needle):
    with pytest.raises(InputError) as info:
        Pipeline(_Engine())([frame])
    assert needle in str(info.value)


def test_image_path_that_is_a_folder(tmp_path):
    with pytest.raises(InputError, match="is a folder, not an image file"):
        Pipeline(_Engine())([tmp_path])
