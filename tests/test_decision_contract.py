"""Contract for every registered decision step (timm style, from each entry's own examples)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgeguard import decision
from edgeguard.errors import ConfigError
from edgeguard.manifest import InputSpec, Manifest
from edgeguard.registry import DECISIONS

CASES = [(e.name, i) for e in DECISIONS for i in range(max(1, len(e.examples)))]
LABELS = [f"class {i}" for i in range(7)]


def _outputs(batch: int, seed: int = 0, entry=None) -> dict[str, np.ndarray]:
    """The entry's ``example_outputs=`` (given at registration, e.g. a YOLO head), else logits."""
    make = entry.extra.get("example_outputs") if entry is not None else None
    if make is not None:
        return make(batch, LABELS)
    rng = np.random.default_rng(seed)
    return {"logits": rng.normal(size=(batch, len(LABELS))).astype(np.float32)}


@pytest.mark.parametrize(("task", "index"), CASES)
@pytest.mark.parametrize("batch", [0, 1, 3])
def test_one_json_result_per_image(task: str, index: int, batch: int) -> None:
    entry = DECISIONS.get(task)
    assert entry.examples, f"decision {task!r} registers no examples= for the contract tests"
    decide = decision.for_task(task, **entry.examples[index])
    manifest = Manifest(task=task, input=InputSpec(size=(8, 8)), labels=LABELS)  # type: ignore[arg-type]
    results = decide(_outputs(batch, entry=entry), manifest)
    assert isinstance(results, list) and len(results) == batch
    for r in results:
        assert isinstance(r, dict)
        assert json.loads(json.dumps(r, allow_nan=False)) == r


@pytest.mark.parametrize("task", DECISIONS.names())
def test_invalid_options_are_config_errors(task: str) -> None:
    entry = DECISIONS.get(task)
    assert entry.invalid, f"decision {task!r} registers no invalid= option cases"
    for options in entry.invalid:
        with pytest.raises(ConfigError):
            decision.for_task(task, **options)
    with pytest.raises(ConfigError, match="unknown parameter"):
        decision.for_task(task, not_an_option=1)


def test_lookup_by_task() -> None:
    assert "classification" in decision.tasks()
    with pytest.raises(ConfigError, match="no decision step for task 'segmentation'.*classification"):
        decision.for_task("segmentation")


def test_classification_top_k_is_the_argsort_of_softmax() -> None:
    logits = np.array([[0.0, 3.0, 1.0, 2.0]], np.float32)
    manifest = Manifest(input=InputSpec(size=(8, 8)), labels=list("abcd"))  # type: ignore[arg-type]
    (res,) = decision.for_task("classification", top=2)({"logits": logits}, manifest)
    p = np.exp(logits[0] - 3.0) / np.exp(logits[0] - 3.0).sum()
    assert [t["label"] for t in res["top"]] == ["b", "d"]
    assert res["top"][0]["prob"] == pytest.approx(float(p[1]))


def test_a_new_task_registers_beside_its_definition() -> None:
    @DECISIONS.register("counting", summary="how many", usage="counting", examples=({},))
    def counting():
        return lambda outputs, manifest: [{"count": int(x.sum())} for x in outputs["logits"]]

    try:
        decide = decision.for_task("counting")
        assert decide({"logits": np.ones((2, 3))}, {}) == [{"count": 3}, {"count": 3}]
    finally:
        DECISIONS.unregister("counting")
    assert "counting" not in DECISIONS
