"""``export DETECTOR --masking lines=K``: ObjectSeeker's masked copies in the engine, merged on the host."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import edgeguard
from edgeguard import manifest as mf
from edgeguard.errors import ConfigError
from edgeguard.seeker import SeekerOptions, masked_rows, merge, split_set


@pytest.mark.slow
def test_detector_masking_export_and_pipeline_merge(tmp_path: Path) -> None:
    from edgeguard.data.scenes import render_surveillance
    from edgeguard.defenses.seeker import SplitCopies
    from edgeguard.models import build

    out = tmp_path / "p.onnx"
    res = edgeguard.export(
        "persons", input_size=64, masking="lines=2,masked_conf=0.3", out=out, parity_images=1
    )
    m = res.manifest
    assert m.task == "detection" and m.outputs == ("logits", "masked_heads")
    want_part = mf.Seeker(output="masked_heads", lines=2, count=8, fill=0.0, masked_conf=0.3, prune=0.6)
    assert m.seeker == want_part and m.masking is None
    assert mf.load_sidecar(tmp_path / "p.edgeguard.json").seeker == m.seeker
    import onnx

    shapes = [tuple(t.dims) for t in onnx.load(str(out)).graph.initializer]
    assert not [d for d in shapes if d[-2:] == (64, 64)]  # masks computed in the graph, not stored

    x = render_surveillance((5, 0), 64).image.transpose(2, 0, 1)[None].astype(np.float32) / 255.0
    pipe = edgeguard.load(tmp_path / "p.onnx", decision={"conf": 0.05})
    (r,) = pipe.run_batch(x)
    assert r.outputs["masked_heads"].shape == (8, 5, 84)
    assert r.decision["objectseeker"]["copies"] == 8 and "masking" in r.timing_ms
    # the same merge computed from the torch module: the engine's boxes (base ∪ recovered) agree
    net, _ = build("persons", None)
    splits, opts = split_set(2, (64, 64)), SeekerOptions(masked_conf=0.3)
    assert pipe.seeker == opts
    with torch.no_grad():
        head, heads = SplitCopies(net.eval(), splits)(torch.from_numpy(x))
    base = pipe.decide._raw(head[0].numpy(), None)[0]
    want = merge(base, masked_rows(heads[0].numpy(), pipe.decide, None, (64, 64), opts.masked_conf), opts)
    got = [b for b in r.decision["boxes"] if b.get("recovered")]
    assert len(got) == len(want) and len(r.decision["boxes"]) == len(base) + len(want)
    if want.size:
        assert np.abs(np.array([b["xyxy"] for b in got]) - want[:, :4]).max() <= 1e-2


def test_detector_masking_refuses_classifier_options(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="patch= is the classifiers'"):
        edgeguard.export("persons", input_size=64, masking="patch=0.25", out=tmp_path / "p.onnx")
    assert not list(tmp_path.iterdir())
