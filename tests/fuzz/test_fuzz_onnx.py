"""Small ONNX classifiers with random input dtype/shape, opset and output rank, through export.

The oracle: a typed EdgeGuardError with nothing new in the output folder, or a parity-checked
export whose graph runs on the input it declares.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
from hypothesis import given
from hypothesis import strategies as st
from onnx import TensorProto as T

from edgeguard.errors import EdgeGuardError
from edgeguard.exporter.onnx import export
from tests.fakes.graphs import classifier, save

DIM = st.one_of(st.sampled_from(["B", "H", "W"]), st.integers(-2, 20))


@st.composite
def graphs(draw):
    def pick(valid, strategy):
        # Most draws keep a knob valid, so that many examples get through to a real export.
        return valid if draw(st.integers(0, 9)) < 8 else draw(strategy)

    return dict(
        dtype=pick(T.FLOAT, st.sampled_from([T.INT8, T.UINT8, T.FLOAT16, T.DOUBLE])),
        shape=(
            pick("B", st.sampled_from([1, 2, 0])),
            pick(3, st.sampled_from([1, 4])),
            pick("H", DIM),
            pick("W", DIM),
        ),
        classes=pick(4, st.integers(0, 5)),
        opset=pick(17, st.sampled_from([9, 13, 18, 20, 21, 30, 99])),
        out_rank=pick(2, st.sampled_from([1, 4])),
        custom_domain=pick(None, st.just("com.acme")),
    )


SIZES = st.one_of(st.sampled_from([16, 20, (16, 24), (20, 16)]), st.sampled_from([None, 0, 10**6, (16, -1)]))


@given(graphs(), SIZES, st.sampled_from([[], ["bits:5"], ["median:3x3"]]))
def test_random_graphs_export_or_fail_typed(knobs, input_size, defense):
    folder = Path(tempfile.mkdtemp(prefix="edgeguard-fuzz-onnx-"))
    src = save(classifier(**knobs), folder)
    try:
        res = export(str(src), out=folder / "o.onnx", defense=defense, input_size=input_size, parity_images=1)
    except EdgeGuardError as err:
        assert "\n" not in str(err)
        assert sorted(p.name for p in folder.iterdir()) == ["tiny.onnx"]  # nothing written
        return
    assert res.parity.ok and res.path.is_file() and res.sidecar.is_file()
    h, w = res.manifest.input.size
    sess = ort.InferenceSession(str(res.path), providers=["CPUExecutionProvider"])
    batch = 1 if isinstance(knobs["shape"][0], int) else 2
    out = sess.run(None, {"input": np.random.default_rng(0).random((batch, 3, h, w), np.float32)})[0]
    assert out.shape == (batch, knobs["classes"]) and np.isfinite(out).all()
