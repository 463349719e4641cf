"""The loop in-process: drops and reconnects, empty and odd frames, events, outputs, task and stage checks."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from edgeguard.camera.channel import END, Backoff, Frame, FrameChannel
from edgeguard.camera.loop import CameraLoop, LoopOptions, check_task
from edgeguard.camera.outputs import check_output_file
from edgeguard.camera.sources import open_source
from edgeguard.errors import ConfigError, InputError
from edgeguard.pipeline import load

from .fakes import FakeLive, Scripted, count_frames, odd_frames

pytestmark = pytest.mark.timeout(120)  # a hung loop fails fast instead of stalling CI


def fast(attempts: int = 3) -> Backoff:
    return Backoff(initial_s=0.01, factor=2.0, max_s=0.04, attempts=attempts)


def test_channel_keeps_only_the_newest_frame_and_counts_drops() -> None:
    stop = threading.Event()
    ch = FrameChannel(keep_latest=True)
    dropped = sum(ch.put(Frame(np.zeros((1, 1, 3), np.uint8), i, 0.0), stop) for i in range(5))
    ch.close()
    assert dropped == 4
    assert ch.get(0.01).index == 4 and ch.get(0.01) is END


def test_blocking_channel_never_drops() -> None:
    stop = threading.Event()
    ch = FrameChannel(keep_latest=False, maxsize=2)
    got: list[int] = []

    def consume() -> None:
        while (item := ch.get(1.0)) is not END:
            got.append(item.index)

    t = threading.Thread(target=consume)
    t.start()
    assert sum(ch.put(Frame(np.zeros((1, 1, 3), np.uint8), i, 0.0), stop) for i in range(50)) == 0
    ch.close()
    t.join(5)
    assert got == list(range(50))


def test_backoff_is_exponential_and_bounded() -> None:
    assert list(Backoff(0.5, 2.0, 3.0, 5).delays()) == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert list(Backoff(0.5, 2.0, 3.0, 0).delays()) == []  # 0 = do not reconnect
    forever = Backoff(0.5, 2.0, 3.0, -1).delays()
    assert [next(forever) for _ in range(1000)][-3:] == [3.0, 3.0, 3.0]  # -1 = never give up


def test_zero_reconnect_attempts_means_do_not_reconnect(sign_engine: Path) -> None:
    fake = FakeLive(drops=5, per_connection=2)
    waits: list[float] = []
    opts = LoopOptions(backoff=fast(0), warmup=False)
    s = CameraLoop(load(sign_engine), fake, opts, sleep=waits.append).run()
    assert waits == [] and fake.opens == 0 and s["reconnects"] == 0 and s["disconnects"] == 1
    assert s["frames"] + s["dropped"] == 2 and "not reconnecting (--reconnect-attempts 0)" in s["error"]


def test_forever_keeps_retrying_until_stopped(sign_engine: Path) -> None:
    fake = FakeLive(drops=1, per_connection=2, fail_reopen=40, tail=2)  # back after 40, then gone for good
    waits: list[float] = []

    def sleep(delay: float) -> None:
        waits.append(delay)
        if len(waits) == 200:
            loop.stop("test stop")

    loop = CameraLoop(load(sign_engine), fake, LoopOptions(backoff=fast(-1), warmup=False), sleep=sleep)
    s = loop.run()
    assert s["reconnects"] == 1 and fake.delivered == 4  # came back once, after 41 waits
    assert len(waits) == 200 and s["stopped_by"] == "test stop" and s["error"] is None  # never gave up


def test_reconnect_retries_with_backoff_until_the_camera_is_back(sign_engine: Path, tmp_path: Path) -> None:
    fake = FakeLive(drops=1, per_connection=3, fail_reopen=2, tail=3)
    waits: list[float] = []
    ev = tmp_path / "ev.jsonl"
    opts = LoopOptions(backoff=Backoff(0.01, 2.0, 1.0, 5), events=ev, warmup=False)
    s = CameraLoop(load(sign_engine), fake, opts, sleep=waits.append).run()
    assert s["reconnects"] == 1 and waits[:3] == [0.01, 0.02, 0.04]
    kinds = [json.loads(line).get("event") for line in ev.read_text().splitlines()]
    assert kinds.count("disconnect") == 2 and kinds.count("reconnect") == 1 and "gave_up" in kinds


def test_empty_frames_are_skipped_counted_then_treated_as_a_drop(sign_engine: Path) -> None:
    f, e = np.full((40, 40, 3), 90, np.uint8), np.empty((0, 0, 3), np.uint8)
    src = Scripted([f, e, f, e, e, e, f, f])  # 3 empty in a row = a drop; the end of the script = another
    s = CameraLoop(
        load(sign_engine),
        src,
        LoopOptions(backoff=fast(1), empty_limit=3, warmup=False),
        sleep=lambda _: None,
    ).run()
    assert s["empty"] == 4 and s["disconnects"] == 2 and s["reconnects"] == 1
    assert s["frames"] + s["dropped"] == 4 and s["stopped_by"] == "source failed"


def test_odd_frames_are_converted_and_recorded_at_one_size(sign_engine: Path, tmp_path: Path) -> None:
    frames = odd_frames()
    fake = FakeLive(drops=0, tail=len(frames), frames=frames)
    fake.live = False  # process every frame in order
    out = tmp_path / "odd.mp4"
    s = CameraLoop(load(sign_engine), fake, LoopOptions(record=out), sleep=lambda _: None).run()
    assert s["frames"] == len(frames) and s["dropped"] == 0
    n, size = count_frames(out)
    assert n == len(frames) and size == (64, 48)  # the first frame fixes the video size


def test_synthetic_run_writes_events_snapshots_and_summary(sign_engine: Path, tmp_path: Path) -> None:
    pipe = load(sign_engine)
    decide = pipe.decide

    def flag_every_fifth(outputs, manifest):  # a detector stand-in: this engine has none
        res = decide(outputs, manifest)
        flag_every_fifth.n += 1
        for r in res:
            r["adv_score"] = 0.5 if flag_every_fifth.n % 5 == 0 else 0.01
            r["flagged"] = flag_every_fifth.n % 5 == 0
        return res

    flag_every_fifth.n = -1  # the warm-up call comes first
    pipe.decide = flag_every_fifth
    opts = LoopOptions(
        events=tmp_path / "e.jsonl",
        snapshots=tmp_path / "snaps",
        summary=tmp_path / "s.json",
        record=tmp_path / "v.mp4",
    )
    s = CameraLoop(pipe, open_source("synthetic:stop-sign?frames=30", width=320, height=240), opts).run()
    assert s == json.loads((tmp_path / "s.json").read_text())
    assert s["frames"] == 30 and s["flagged"] == 6 and s["dropped"] == 0
    assert set(s["stage_ms"]) >= {"preprocess", "engine", "decision", "total", "overlay", "output"}
    assert s["fps"]["end_to_end"] > 0 and s["fps"]["engine_only"] > s["fps"]["end_to_end"]
    lines = [json.loads(x) for x in (tmp_path / "e.jsonl").read_text().splitlines()]
    flagged = [r for r in lines if "flagged" in r["event"]]
    assert len(flagged) == 6 and all(r["adv_score"] == 0.5 for r in flagged)
    assert lines[0]["event"][-1] == "class_changed" and lines[0]["previous"] is None
    assert all(Path(r["snapshot"]).is_file() for r in lines) and s["events"] == len(lines)
    assert {"time", "frame", "label", "score", "timing_ms", "latency_ms"} <= set(lines[0])
    assert count_frames(tmp_path / "v.mp4") == (30, (320, 240))


def test_task_mismatch_is_a_config_error(sign_engine: Path) -> None:
    with pytest.raises(
        ConfigError, match="--task detection: the engine's manifest says it is a classification"
    ):
        CameraLoop(load(sign_engine), FakeLive(), LoopOptions(task="detection"))
    with pytest.raises(ConfigError, match="manifest says it is a detection model"):
        check_task(SimpleNamespace(manifest=SimpleNamespace(task="detection")), "classification")
    check_task(SimpleNamespace(manifest=SimpleNamespace(task="detection")), None)


def test_slow_stage_in_the_always_on_path_suggests_escalate(sign_engine: Path) -> None:
    from edgeguard.stages import DIP, JPEG

    with pytest.raises(ConfigError, match="host stage 'dip' is not real-time.*use it with --escalate"):
        load(sign_engine, host_stages=["dip"], allow_slow=False)
    # the same slow stage is accepted as the escalation, and the loop runs it on the gated frames only
    gated: list[int] = []

    def every_third(decision: dict) -> bool:
        gated.append(len(gated))
        return gated[-1] % 3 == 1

    pipe = load(
        sign_engine, host_stages=["jpeg:75"], escalate="dip:iters=2", allow_slow=False, gate=every_third
    )
    assert len(pipe.host_stages) == 1 and isinstance(pipe.host_stages[0], JPEG)
    assert pipe.host_stages[0].quality == 75
    assert isinstance(pipe.escalate, DIP) and pipe.escalate.iters == 2 and pipe.escalate.realtime is False
    src = open_source("synthetic:stop-sign?frames=6", width=160, height=120)
    s = CameraLoop(pipe, src, LoopOptions(warmup=False)).run()
    assert s["frames"] == 6 and len(gated) == 6
    assert s["escalated"] == 2  # frames 1 and 4
    assert pipe.escalate.last_info["iterations"] == 2 and "stage:jpeg" in s["stage_ms"]


def test_unwritable_outputs_fail_before_the_loop(sign_engine: Path, tmp_path: Path) -> None:
    fake = FakeLive()
    for path, needle in (
        (tmp_path / "missing" / "v.mp4", "does not exist"),
        (tmp_path, "is a folder"),
        (tmp_path / "v.txt", "expected a file ending in"),
    ):
        with pytest.raises(ConfigError, match=needle):
            CameraLoop(load(sign_engine), fake, LoopOptions(record=path))
    assert fake.reads == 0
    check_output_file(tmp_path / "ok.mp4", "--record", (".mp4",))
    assert not (tmp_path / "ok.mp4").exists()  # the check leaves no empty file behind


def test_display_without_a_screen_says_why_and_runs_headless(
    sign_engine: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    said: list[str] = []
    src = open_source("synthetic:stop-sign?frames=3", width=160, height=120)
    s = CameraLoop(load(sign_engine), src, LoopOptions(display=True), log=said.append).run()
    assert s["frames"] == 3 and said and "running headless" in said[0] and "DISPLAY" in said[0]


def test_a_crop_outside_the_first_frame_fails_before_any_output(sign_engine: Path, tmp_path: Path) -> None:
    events, summary = tmp_path / "keep.jsonl", tmp_path / "keep.json"
    events.write_text('{"old": 1}\n')
    src = open_source("synthetic:stop-sign?frames=5", width=160, height=120)
    opts = LoopOptions(
        crop=(100, 100, 100, 100),
        events=events,
        summary=tmp_path / "s.json",
        record=tmp_path / "v.mp4",
        snapshots=tmp_path / "snaps",
    )
    with pytest.raises(ConfigError, match="--crop 100,100,100,100 lies outside the 160x120 frames"):
        CameraLoop(load(sign_engine), src, opts).run()
    assert events.read_text() == '{"old": 1}\n' and not summary.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.jsonl"]  # no video, summary, temp, folder


def test_a_failure_mid_run_still_writes_the_summary(sign_engine: Path, tmp_path: Path) -> None:
    big, small = np.full((120, 160, 3), 90, np.uint8), np.full((50, 60, 3), 90, np.uint8)
    fake = FakeLive(drops=0, tail=3, frames=[big, big, small])
    fake.live = False  # in order: two frames fit the box, the third does not
    opts = LoopOptions(crop=(10, 10, 100, 90), summary=tmp_path / "s.json", record=tmp_path / "v.mp4")
    with pytest.raises(InputError, match="crop box"):
        CameraLoop(load(sign_engine), fake, opts).run()
    s = json.loads((tmp_path / "s.json").read_text())
    assert s["stopped_by"] == "error" and "crop box" in s["error"] and s["frames"] == 2
    assert count_frames(tmp_path / "v.mp4") == (2, (160, 120))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.json", "v.mp4"]  # no temporary left


class Recording:
    """A pipeline stand-in wrapper that records every call's crop and first frame."""

    def __init__(self, pipe) -> None:
        self.pipe, self.calls = pipe, []

    def __getattr__(self, name):
        return getattr(self.pipe, name)

    def __enter__(self):
        self.pipe.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.pipe.__exit__(*exc)

    def __call__(self, frames, *, crop=None):
        self.calls.append((crop, frames[0].copy()))
        return self.pipe(frames, crop=crop)


def test_fixed_crop_box_is_passed_with_each_call_and_is_what_the_classifier_sees(sign_engine: Path) -> None:
    pipe = load(sign_engine)
    rec = Recording(pipe)
    src = open_source("synthetic:stop-sign?frames=4", width=160, height=120)
    loop = CameraLoop(rec, src, LoopOptions(crop=(10, 20, 100, 90), draw_overlay=False))
    assert loop.run()["frames"] == 4
    assert pipe.crop == "resize"  # the loop never sets the pipeline's crop from outside
    assert [c for c, _ in rec.calls] == ["resize"] + [(10, 20, 100, 90)] * 4  # warm-up, then each frame
    frame = rec.calls[1][1]
    probs = pipe([frame], crop=(10, 20, 100, 90))[0].outputs["logits"]
    cropped = pipe([np.ascontiguousarray(frame[20:110, 10:110])])[0].outputs["logits"]
    whole = pipe([frame])[0].outputs["logits"]
    np.testing.assert_allclose(probs, cropped, rtol=1e-5, atol=1e-5)  # the box, not the whole frame
    assert not np.allclose(probs, whole, atol=1e-4)


def test_auto_crop_passes_the_source_roi_view(sign_engine: Path) -> None:
    pipe = load(sign_engine)
    rec = Recording(pipe)
    src = open_source("synthetic:stop-sign?frames=3", width=160, height=120)
    CameraLoop(rec, src, LoopOptions(draw_overlay=False)).run()
    assert pipe.crop == "resize" and all(c == "resize" for c, _ in rec.calls)
    assert all(f.shape[:2] != (120, 160) for _, f in rec.calls[1:])  # the sign's box, not the frame


def test_run_outputs_check_everything_and_create_nothing(tmp_path: Path) -> None:
    from edgeguard.camera.outputs import RunOutputs

    snaps = tmp_path / "snaps"
    snaps.mkdir()
    (snaps / "frame_000001.jpg").write_bytes(b"old")
    with pytest.raises(ConfigError, match="already holds frame_"):
        RunOutputs(snapshots=snaps)
    out = RunOutputs(snapshots=snaps, overwrite={"snapshots"})
    path = out.snapshots.save(np.full((8, 8, 3), 200, np.uint8), 1)
    assert path == str(snaps / "frame_000001.jpg") and (snaps / "frame_000001.jpg").read_bytes() != b"old"
    assert sorted(p.name for p in snaps.iterdir()) == ["frame_000001.jpg"]  # renamed, no temp left
    fresh = tmp_path / "new" / "deeper"
    out = RunOutputs(
        record=tmp_path / "v.mp4", events=tmp_path / "e.jsonl", summary=tmp_path / "s.json", snapshots=fresh
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["snaps"]  # checks create nothing
    out.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["snaps"]
    with pytest.raises(ValueError, match="unknown outputs"):
        RunOutputs(overwrite={"video"})
