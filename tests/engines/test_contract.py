"""Contract for every registered engine backend, and engine choice as a registry lookup."""

from __future__ import annotations

import numpy as np
import pytest

from edgeguard.engines import Engine, TensorSpec, engine_for, open_engine
from edgeguard.errors import EngineError
from edgeguard.registry import ENGINES

NAMES = ENGINES.names()


@pytest.mark.parametrize("name", NAMES)
def test_entry_declares_what_it_opens_and_examples(name: str) -> None:
    entry = ENGINES.get(name)
    keys = (*entry.extra.get("suffixes", ()), *entry.extra.get("schemes", ()))
    assert keys, f"engine {name!r} registers neither suffixes= nor schemes="
    assert entry.examples, f"engine {name!r} registers no examples= for the contract tests"
    known = {p.name for p in entry.params}
    assert all(set(e) <= known for e in entry.examples)


def test_no_two_backends_claim_the_same_suffix_or_scheme() -> None:
    for key in ("suffixes", "schemes"):
        values = ENGINES.values_of(key)
        assert len(values) == len(set(values)), values


@pytest.mark.parametrize("name", NAMES)
def test_lookup_routes_every_suffix_and_scheme_to_its_backend(name: str) -> None:
    entry = ENGINES.get(name)
    for suffix in entry.extra.get("suffixes", ()):
        assert engine_for(f"/models/net{suffix}") is entry
        assert engine_for(f"net{suffix.upper()}") is entry
    for scheme in entry.extra.get("schemes", ()):
        assert engine_for(f"{scheme}://host:8001/net") is entry


@pytest.mark.parametrize(("name", "index"), [(e.name, i) for e in ENGINES for i in range(len(e.examples))])
def test_examples_open_and_run_or_fail_typed(name: str, index: int, tmp_path) -> None:
    """With its example file a backend opens and runs; without one (no plan can be built here, no server
    runs here) opening a file it does not understand or an address nobody answers is an EngineError,
    never another exception."""
    entry = ENGINES.get(name)
    options = dict(entry.examples[index])
    if entry.example_setup is None:
        if entry.extra.get("suffixes"):
            target = tmp_path / f"garbage{entry.extra['suffixes'][0]}"
            target.write_bytes(b"\x00not an engine" * 8)
        else:  # a served engine (triton://): nothing listens on port 1 of the loopback address
            target = f"{entry.extra['schemes'][0]}://127.0.0.1:1/net"
        with pytest.raises(EngineError):
            open_engine(target, **options)
        return
    path = entry.example_setup(tmp_path).pop("path")
    with open_engine(path, **options) as eng:
        assert isinstance(eng, Engine)
        (inp,) = eng.inputs
        shape = tuple(2 if d is None else d for d in inp.shape)
        x = np.random.default_rng(0).random(shape, dtype=np.float32)
        out = eng({inp.name: x})
        assert set(out) == {o.name for o in eng.outputs}
        assert all(v.shape[0] == shape[0] for v in out.values())


def test_unknown_suffix_and_scheme_name_what_exists(tmp_path) -> None:
    with pytest.raises(EngineError, match=r"unknown engine type '\.bin'.*\.onnx"):
        open_engine(tmp_path / "x.bin")
    with pytest.raises(EngineError, match=r"no engine for URI scheme grpc://"):
        open_engine("grpc://host/model")


def test_a_scheme_backend_registers_and_opens_through_open_engine() -> None:
    """A future ``triton://host/model`` backend is one registration; open_engine finds it by scheme."""

    class EchoEngine(Engine):
        def __init__(self, target: str, provider: str | None = None, threads: int = 0) -> None:
            super().__init__()
            self.target = target
            self.inputs = [TensorSpec("input", np.dtype(np.float32), (None, 3))]
            self.outputs = [TensorSpec("logits", np.dtype(np.float32), (None, 3))]

        def _load(self) -> None:
            pass

        def _unload(self) -> None:
            pass

        def _run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            return {"logits": feed["input"] * 2}

    ENGINES.register("echo-test", summary="test", usage="echo://x", schemes=("echo",), examples=({},))(
        EchoEngine
    )
    try:
        eng = open_engine("echo://host:8001/sign")
        assert isinstance(eng, EchoEngine) and eng.target == "echo://host:8001/sign"
        np.testing.assert_array_equal(eng(np.ones((2, 3), np.float32))["logits"], np.full((2, 3), 2.0))
        assert engine_for("ECHO://other").name == "echo-test"
        with pytest.raises(EngineError, match="unknown engine type"):
            open_engine("echo.bin")  # a plain path whose name has no scheme still goes by suffix
    finally:
        ENGINES.unregister("echo-test")
    with pytest.raises(EngineError, match="no engine for URI scheme echo://"):
        open_engine("echo://host/sign")
