"""eval.Config: validation naming the key, canonical specs, dict round trip; deploy's cache."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from edgeguard.errors import ConfigError
from edgeguard.eval import Config, deploy

from .signs import SHIPPED, sign_images


def test_specs_are_canonical_so_equal_pipelines_compare_equal():
    a = Config("a", "signs", ("bits:5", "median:3x3"), ("jpeg:75",))
    b = Config("a", "signs", ["bits:bits=5", "median:kernel=3x3"], ["jpeg:quality=75"])
    assert a == b and hash(a) == hash(b)
    assert a.defenses == ("bits:bits=5", "median:kernel=3x3") and a.stages == ("jpeg:quality=75",)
    assert a.key() == Config("another label", "signs", ("bits:5", "median:3x3"), ("jpeg:75",)).key()
    assert a.key() != Config("a", "signs", ("bits:4", "median:3x3"), ("jpeg:75",)).key()


def test_detector_spec_is_canonical():
    c = Config("d", "signs", ("bits:5",), detector="squeeze:bits=4,median=2x2")
    assert c.detector == "squeeze:bits=4,median=2x2"
    assert Config.from_dict(c.to_dict()) == c


def test_dict_round_trip_through_json():
    c = Config("c", "signs-denoise", ("median:3x3",), ("tvm:keep=0.5",), weights=None)
    d = json.loads(json.dumps(c.to_dict()))
    assert Config.from_dict(d) == c
    assert d == {
        "name": "c",
        "model": "signs-denoise",
        "defenses": ["median:kernel=3x3"],
        "stages": ["tvm:keep=0.5"],
        "detector": None,
        "weights": None,
    }


@pytest.mark.parametrize(
    ("d", "key"),
    [
        ({"name": "x", "model": "signs", "defence": []}, "'defence'"),
        ({"model": "signs"}, "'name'"),
        ({"name": "x"}, "'model'"),
        ({"name": "x", "model": "signs", "defenses": ["bits:9"]}, "'defenses'"),
        ({"name": "x", "model": "signs", "defenses": "nope:1"}, "'defenses'"),
        ({"name": "x", "model": "signs", "stages": ["tvm:keep=2"]}, "'stages'"),
        ({"name": "x", "model": "signs", "stages": [3]}, "'stages'"),
        ({"name": "x", "model": "no-such-model"}, "'model'"),
        ({"name": "", "model": "signs"}, "'name'"),
        ({"name": "x", "model": "missing.onnx"}, "'model'"),
        ({"name": "x", "model": str(SHIPPED), "defenses": ["bits:5"]}, "'defenses'"),
        ({"name": "x", "model": "signs", "weights": "missing.safetensors"}, "'weights'"),
        ({"name": "x", "model": "signs", "weights": 3}, "'weights'"),
        ({"name": "x", "model": "signs", "detector": "lid:3"}, "'detector'"),
        ({"name": "x", "model": "signs", "detector": "squeeze:bits=9"}, "'detector'"),
        ({"name": "x", "model": "signs", "defenses": ["bits:4"], "detector": "squeeze:bits=4"}, "redundant"),
        ({"name": "x", "model": str(SHIPPED), "detector": "squeeze:bits=4"}, "'detector'"),
    ],
)
def test_bad_configs_name_the_key(d, key):
    with pytest.raises(ConfigError, match=key):
        Config.from_dict(d)


def test_from_dict_refuses_a_non_mapping():
    with pytest.raises(ConfigError, match="expected a table"):
        Config.from_dict(["signs"])


def test_random_flags_come_from_the_registries_and_the_engine_manifest():
    assert Config("r", "signs", stages=("tvm:keep=0.5",)).random
    assert not Config("d", "signs", ("bits:5",), ("jpeg:75",)).random
    assert not Config("e", str(SHIPPED)).random  # bits + median in the graph, no host stages
    assert Config("e", str(SHIPPED), stages=("tvm:keep=0.5",)).random


def test_an_engine_is_deployed_as_it_is_plus_extra_stages():
    pipe = deploy(Config("e", str(SHIPPED), stages=("jpeg:75",)), "unused-workdir")
    assert [s.spec for s in pipe.host_stages] == ["jpeg:quality=75"]
    assert pipe.manifest.defenses == ("bits:bits=5", "median:kernel=3x3")


def test_deploy_refuses_bad_options_before_any_work(tmp_path):
    c = Config("d", "signs", ("bits:5",))
    with pytest.raises(ConfigError, match="threads"):
        deploy(c, tmp_path, threads=-1)
    with pytest.raises(ConfigError, match="detector_fpr"):
        deploy(c, tmp_path, detector_fpr=1.5)
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_deploy_exports_once_per_config_and_runs_the_defended_graph(tmp_path):
    c = Config("d", "signs", ("bits:5", "median:3x3"), ("jpeg:75",))
    pipe = deploy(c, tmp_path)
    engines = sorted(tmp_path.glob("*.onnx"))
    assert [p.name for p in engines] == [f"{c.key()}.onnx"]
    assert pipe.manifest.defenses == c.defenses and pipe.manifest.host_stages == c.stages
    mtime = engines[0].stat().st_mtime_ns
    again = deploy(
        Config("same pipeline, other label", "signs", ("bits:5", "median:3x3"), ("jpeg:75",)), tmp_path
    )
    assert engines[0].stat().st_mtime_ns == mtime and len(list(tmp_path.glob("*.onnx"))) == 1
    # the cached engine is the same pipeline as the shipped bits:5 → median:3x3 engine, plus JPEG
    x, _ = sign_images()
    shipped = deploy(Config("s", str(SHIPPED), stages=("jpeg:75",)), tmp_path)
    ours = np.stack([r.outputs["logits"] for r in again.run_batch(x.numpy())])
    ref = np.stack([r.outputs["logits"] for r in shipped.run_batch(x.numpy())])
    np.testing.assert_allclose(ours, ref, atol=1e-4)
    assert torch.is_tensor(x)
