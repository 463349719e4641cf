"""``edgeguard eval --certify`` on a detector: ObjectSeeker's certified recall, AP and cost per frame."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import edgeguard
from edgeguard.cli.app import _load_commands, main

_load_commands()


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("seeker")
    edgeguard.export(
        "persons", input_size=64, masking="lines=3,masked_conf=0.05", out=d / "m.onnx", parity_images=1
    )
    edgeguard.export("persons", input_size=64, out=d / "bare.onnx", parity_images=1)
    return d / "m.onnx", d / "bare.onnx"


@pytest.mark.slow
def test_certify_a_detector_engine_writes_results_and_report(tmp_path, engines, capsys) -> None:
    out = tmp_path / "rep"
    with pytest.raises(SystemExit) as done:
        main(
            ["eval", "--model", str(engines[0]), "--certify", "--n", "2", "--patch", "0.1", "--out", str(out)]
        )
    assert done.value.code == 0
    res = json.loads((out / "results.json").read_text())
    assert res["lines"] == 3 and res["copies"] == 12 and res["forwards_per_frame"] == 13
    assert res["frames"] == 2 and res["patch_px"] == 6 and res["options"]["masked_conf"] == 0.05
    r = res["certified_recall"]
    assert res["objects"] > 0 and all(0.0 <= r[k] <= 1.0 for k in ("far", "close", "over"))
    report = (out / "report.md").read_text()
    assert f"| far (≥ 10% of the frame from the person) | {100 * r['far']:.1f} % |" in report
    assert f"| AP@0.5 | {res['clean']['ap50_bare']:.3f} | {res['clean']['ap50_objectseeker']:.3f} |" in report
    assert "certified recall at a 6 px patch" in capsys.readouterr().out


@pytest.mark.slow
def test_certified_recall_matches_the_certificate_of_each_person(engines) -> None:
    """The runner's recall is the share of counted people :func:`certify_objects` certifies, from the
    engine's own masked copies (recomputed here from the engine outputs)."""
    from edgeguard.data.scene_sets import PERSONS_TEST_SEED, render_scene_set
    from edgeguard.eval.seeker import certify_objects, patch_pixels, recovering
    from edgeguard.eval.seeker_eval import certify_detector
    from edgeguard.seeker import masked_rows, options_of, split_set_of

    res = certify_detector(engines[0], frames=2, patch=0.2, bare_engine=engines[1])
    pipe = edgeguard.load(engines[0])
    splits, opts = split_set_of(pipe.manifest), options_of(pipe.manifest)
    data = render_scene_set(2, seed=PERSONS_TEST_SEED, size=64)
    certs = []
    for i in range(2):
        x = data.images[i : i + 1].transpose(0, 3, 1, 2).astype(np.float32) / 255.0
        heads = pipe.engine(x)["masked_heads"][0]
        masked = masked_rows(heads, pipe.decide, None, (64, 64), opts.masked_conf)
        gt, ignore = data.targets(i)
        flags = recovering(masked, gt[~ignore], np.zeros((~ignore).sum()), prune=opts.prune)
        certs += certify_objects(flags, gt[~ignore], splits, patch_pixels(0.2, (64, 64)))
    assert res["objects"] == len(certs) > 0
    for k in ("far", "close", "over"):
        assert res["certified_recall"][k] == sum(getattr(c, k) for c in certs) / len(certs)
    assert res["ms_per_frame"]["bare_engine_p50"] > 0 and res["ms_per_frame"]["masked_engine_p50"] > 0


BAD = [
    (("--attack", "pgd"), "drop --attack"),
    (("--masking", "lines=0"), "--masking lines=0"),
    (("--patch", "1.5"), "--patch 1.5"),
]


@pytest.mark.parametrize(("args", "message"), BAD)
def test_bad_detector_certify_inputs(tmp_path, capsys, args, message) -> None:
    out = tmp_path / "rep"
    with pytest.raises(SystemExit) as done:
        main(["eval", "--model", "persons", "--certify", "--out", str(out), *args])
    err = capsys.readouterr().err
    assert done.value.code == 2 and err.count("\n") == 1 and message in err, err
    assert not out.exists()


@pytest.mark.slow
def test_engine_without_masked_copies_is_refused(tmp_path, engines, capsys) -> None:
    out = tmp_path / "rep"
    with pytest.raises(SystemExit) as done:
        main(["eval", "--model", str(engines[1]), "--certify", "--out", str(out)])
    err = capsys.readouterr().err
    assert done.value.code == 2 and "export it with `edgeguard export MODEL --masking lines=30`" in err, err
    assert not out.exists()
