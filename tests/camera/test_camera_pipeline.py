"""The pipelined camera loop (issue #16): capture, inference and output run as concurrent stages."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgeguard.camera.compare import fooled, summary_lines
from edgeguard.camera.loop import Backoff, CameraLoop, LoopOptions
from edgeguard.camera.sources import open_source
from edgeguard.pipeline import load

from .fakes import count_frames

pytestmark = pytest.mark.timeout(120)


class Numbered:
    """A file-like (non-live) source: ``n`` flat frames whose grey level encodes their index."""

    live = False
    fps = 30.0
    roi = None
    name = "numbered frames"

    def __init__(self, n: int, step: int = 5, delay_s: float = 0.0) -> None:
        self.n, self.step, self.delay_s, self.i = n, step, delay_s, 0

    def open(self) -> None:
        self.i = 0

    def read(self) -> np.ndarray | None:
        if self.i >= self.n:
            return None
        time.sleep(self.delay_s)
        frame = np.full((64, 96, 3), 20 + self.step * self.i, np.uint8)
        self.i += 1
        return frame

    def close(self) -> None:
        pass


class Slow:
    """A pipeline wrapper whose every call first sleeps ``delay_s`` and records the frame it saw."""

    def __init__(self, pipe: Any, delay_s: float) -> None:
        self.pipe, self.delay_s, self.seen = pipe, delay_s, []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pipe, name)

    def __enter__(self) -> Slow:
        self.pipe.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.pipe.__exit__(*exc)

    def __call__(self, frames: list[np.ndarray], **kw: Any) -> Any:
        self.seen.append(int(frames[0][0, 0, 0]))
        time.sleep(self.delay_s)
        return self.pipe(frames, **kw)


def test_every_frame_of_a_file_source_is_processed_once_in_order(sign_engine: Path, tmp_path: Path) -> None:
    n = 40
    slow = Slow(load(sign_engine), 0.004)  # inference slower than capture: the queue fills and blocks
    opts = LoopOptions(record=tmp_path / "v.avi", draw_overlay=False, crop="resize", warmup=False)
    s = CameraLoop(slow, Numbered(n), opts).run()
    assert s["frames"] == n and s["dropped"] == 0 and s["stopped_by"] == "end of source"
    assert slow.seen == [20 + 5 * i for i in range(n)]  # inference saw every frame, in order
    assert count_frames(tmp_path / "v.avi")[0] == n
    import cv2

    cap = cv2.VideoCapture(str(tmp_path / "v.avi"))
    levels = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        levels.append(int(np.median(frame)))
    cap.release()
    assert all(abs(a - (20 + 5 * i)) <= 2 for i, a in enumerate(levels))  # recorded in order
    budget = s["pipeline"]
    assert set(budget["stages"]) == {"capture", "inference", "output"} and budget["slowest"] == "inference"
    assert budget["stages"]["inference"]["mean"] >= 4.0  # the injected 4 ms is counted


def test_stages_overlap_so_throughput_follows_the_slowest_stage(sign_engine: Path) -> None:
    """Capture 50 ms/frame and inference 50 ms/frame (sleeps: independent of the CPU's load): in
    series that is ≥ 100 ms per frame; pipelined it approaches 50."""
    n, d = 24, 0.05
    slow = Slow(load(sign_engine), d)
    opts = LoopOptions(draw_overlay=False, crop="resize", warmup=False)
    s = CameraLoop(slow, Numbered(n, step=3, delay_s=d), opts).run()
    assert s["frames"] == n
    busy = {k: v["mean"] for k, v in s["pipeline"]["stages"].items()}
    assert busy["capture"] >= 1e3 * d and busy["inference"] >= 1e3 * d
    series_s = n * sum(busy.values()) / 1e3  # what the stages cost one after another
    assert s["wall_s"] < 0.8 * series_s, (s["wall_s"], busy)  # clearly faster than in series
    assert s["pipeline"]["efficiency"] > 0.7  # and close to the slowest stage's own rate


def test_live_source_hands_over_the_newest_frame_only(sign_engine: Path) -> None:
    """A live source faster than inference: frames are dropped at capture and counted, never queued."""

    class Live(Numbered):
        live = True

    slow = Slow(load(sign_engine), 0.02)
    src = Live(60, step=3, delay_s=0.002)
    opts = LoopOptions(draw_overlay=False, crop="resize", warmup=False, backoff=Backoff(attempts=0))
    s = CameraLoop(slow, src, opts).run()  # at its end the "camera" drops and is not reconnected
    assert s["dropped"] > 0 and s["frames"] + s["dropped"] == 60
    assert slow.seen == sorted(slow.seen)  # still in capture order
    # a live frame waits at most for the mailbox, one inference and the results queue
    assert s["latency_ms"]["p95"] < 1000


def test_stop_mid_run_drains_every_inferred_frame_to_the_outputs(sign_engine: Path, tmp_path: Path) -> None:
    slow = Slow(load(sign_engine), 0.003)
    ev = tmp_path / "e.jsonl"
    opts = LoopOptions(record=tmp_path / "v.avi", events=ev, warmup=False)
    loop = CameraLoop(slow, open_source("synthetic:stop-sign?frames=100000", width=160, height=120), opts)
    threading.Timer(1.0, loop.stop, args=("test stop",)).start()
    s = loop.run()
    assert s["stopped_by"] == "test stop" and s["frames"] > 5
    assert len(slow.seen) == s["frames"]  # every frame inferred was presented
    assert count_frames(tmp_path / "v.avi")[0] == s["frames"] == s["outputs"]["recorded_frames"]
    assert len(ev.read_text().splitlines()) == s["events"]


def test_comparison_engine_counts_what_the_sticker_fooled(sign_engine: Path) -> None:
    """The same engine as its own comparison: identical readings, and fooled = frames not read stop."""
    src = open_source("synthetic:stop-sign?frames=24&sticker=stop-bars&angles=0", width=320, height=240)
    loop = CameraLoop(load(sign_engine), src, LoopOptions(warmup=False), compare=load(sign_engine))
    s = loop.run()
    a = s["attack"]
    assert a["truth"] == "stop" and a["sticker"] == "stop-bars" and a["frames"] == 24
    assert a["compare"]["labels"] == s["labels"]
    not_stop = s["frames"] - s["labels"].get("stop", 0)
    assert a["fooled_defended"] == a["fooled_undefended"] == not_stop  # no detector: nothing is caught
    assert s["stage_ms"]["compare"]["mean"] > 0
    lines = summary_lines(a)
    assert lines[0].endswith(f"undefended engine on {not_stop}/24 frames") and "defended engine" in lines[1]


def test_fooled_rule_matches_the_scenario() -> None:
    read = {"top": [{"label": "yield", "prob": 0.9}]}
    assert fooled(read, "stop") and not fooled({**read, "flagged": True}, "stop")  # flagged = caught
    assert not fooled({"top": [{"label": "stop", "prob": 0.9}]}, "stop") and not fooled(read, None)


def test_summary_json_names_the_engine_and_the_budget(sign_engine: Path, tmp_path: Path) -> None:
    src = open_source("synthetic:stop-sign?frames=6", width=160, height=120)
    s = CameraLoop(load(sign_engine), src, LoopOptions(summary=tmp_path / "s.json", warmup=False)).run()
    on_disk = json.loads((tmp_path / "s.json").read_text())
    assert on_disk["engine"].endswith("signs-rand.onnx") and "bits:bits=5" in on_disk["engine_config"]
    assert on_disk["pipeline"]["slowest"] in ("capture", "inference", "output")
    assert on_disk["attack"]["fooled_defended"] == 6 - s["labels"].get("stop", 0)
