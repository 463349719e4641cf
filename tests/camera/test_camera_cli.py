"""``edgeguard camera`` and ``edgeguard demo`` end to end in fresh interpreters; CLI bad-input errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgeguard.camera import default

from .fakes import count_frames

pytestmark = pytest.mark.timeout(300)
CODE = "import sys; from edgeguard.cli.app import main; sys.argv[0] = 'edgeguard'; main()"


def test_synthetic_run_end_to_end(cli, sign_engine: Path, tmp_path: Path) -> None:
    r = cli(
        "camera",
        "--engine",
        str(sign_engine),
        "--source",
        "synthetic:stop-sign?frames=30&sticker=1",
        "--width",
        "320",
        "--height",
        "240",
        "--record",
        "v.mp4",
        "--events",
        "e.jsonl",
        "--summary",
        "s.json",
        "--out-dir",
        str(tmp_path),
    )
    assert r.returncode == 0, r.stderr
    s = json.loads((tmp_path / "s.json").read_text())
    assert s["frames"] == 30 and s["dropped"] == 0 and s["stopped_by"] == "end of source"
    assert sum(s["labels"].values()) == 30 and s["fps"]["engine_only"] > 0
    assert count_frames(tmp_path / "v.mp4") == (30, (320, 240))
    events = [json.loads(x) for x in (tmp_path / "e.jsonl").read_text().splitlines()]
    assert events and events[0]["frame"] == 0 and s["events"] == len(events)
    assert "end-to-end" in r.stdout and "engine-only" in r.stdout and str(tmp_path / "v.mp4") in r.stdout


def test_video_file_end_to_end(cli, sign_engine: Path, drive_video: Path, tmp_path: Path) -> None:
    r = cli(
        "camera",
        "-e",
        str(sign_engine),
        "-i",
        str(drive_video),
        "--crop",
        "center",
        "--record",
        str(tmp_path / "v.mp4"),
        "--summary",
        str(tmp_path / "s.json"),
    )
    assert r.returncode == 0, r.stderr
    s = json.loads((tmp_path / "s.json").read_text())
    assert s["frames"] == 40 and s["dropped"] == 0 and not s["live"]
    assert count_frames(tmp_path / "v.mp4") == (40, (320, 240))


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--source", "/no/such/clip.mp4"], "no such file, folder or device"),
        (["--source", "ftp://cam/1"], "unsupported scheme ftp://"),
        (["--source", "csi://x"], "malformed CSI camera"),
        (["--source", "rtsp://127.0.0.1:9/cam", "--timeout", "1000"], "cannot open stream rtsp://"),
        (["--source", str(Path(__file__).resolve())], "not a video FFmpeg can decode"),
        (["--source", "synthetic:stop-sign", "--record", "/no/such/dir/v.mp4"], "does not exist"),
        (["--source", "synthetic:stop-sign", "--task", "detection"], "manifest says it is a classification"),
        (["--source", "synthetic:stop-sign", "--stage", "dip"], "--escalate"),
        (["--source", "synthetic:stop-sign", "--max-frames", "0"], "--max-frames 0"),
        (["--duration", "nan"], "--duration nan: must be a finite number"),
        (["--duration", "inf"], "--duration inf: must be a finite number"),
        (["--duration", "-1"], "--duration -1.0: must be"),
        (["--backoff", "nan"], "--backoff nan: must be a finite number"),
        (["--backoff-max", "inf"], "--backoff-max inf"),
        (["--backoff", "0"], "--backoff 0.0"),
        (["--reconnect-attempts", "-2"], "-1 (retry forever)"),
        (["--crop", "1,2,3"], "--crop '1,2,3'"),
        (["--threads", "-1"], "--threads -1"),
        (["--transport", "quic"], "--transport 'quic'"),
        (["--source", "y" * 300], "--source 'yyy"),
        (["--snapshots", "y" * 300], "longer than"),
        (["--out-dir", "y" * 300], "longer than"),
        (["--record", "y" * 300 + ".txt"], "longer than"),
        (["--summary", "s.json", "--events", "s.json"], "give each output its own file"),
        (["--compare-engine", "/no/such/undefended.onnx"], "--compare-engine '/no/such/undefended.onnx'"),
        (["--source", "synthetic:stop-sign?sticker=/no/such.png"], "sticker='/no/such.png': no such file"),
    ],
)
def test_cli_errors_are_one_line_and_exit_2(cli, sign_engine: Path, args: list[str], needle: str) -> None:
    r = cli("camera", "--engine", str(sign_engine), *args)
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edgeguard: error:") and needle in lines[0], r.stderr


def test_sigterm_finishes_video_events_and_summary(sign_engine: Path, tmp_path: Path) -> None:
    args = [
        "camera",
        "-e",
        str(sign_engine),
        "-i",
        "synthetic:stop-sign?frames=100000",
        "--realtime",
        "--width",
        "320",
        "--height",
        "240",
        "--out-dir",
        str(tmp_path),
        "--record",
        "v.mp4",
        "--events",
        "e.jsonl",
        "--summary",
        "s.json",
    ]
    proc = subprocess.Popen(
        [sys.executable, "-c", CODE, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, COLUMNS="200"),
    )
    events = tmp_path / "e.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (events.exists() and events.stat().st_size > 0):
        time.sleep(0.1)
    time.sleep(1.0)  # let it record a few dozen frames
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    s = json.loads((tmp_path / "s.json").read_text())
    assert s["stopped_by"] == "signal SIGTERM" and s["frames"] > 5
    assert count_frames(tmp_path / "v.mp4") == (s["outputs"]["recorded_frames"], (320, 240))
    assert s["outputs"]["recorded_frames"] == s["frames"]  # every frame inferred was recorded
    lines = events.read_text().splitlines()
    assert all(json.loads(x) for x in lines) and len(lines) == s["events"]  # complete, none lost
    assert "stopped by signal SIGTERM" in out


def test_cached_default_engine_is_reexported_when_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDGEGUARD_CACHE", str(tmp_path / "cache"))
    path = default.engine_path()
    assert path.parent == tmp_path / "cache" and path.name == "signs-bits5-median3x3.onnx"
    sha, specs = default.expected_source()
    assert not default.cached_is_current(path, sha, specs)
    path.write_bytes(b"onnx")
    side = path.with_name(path.stem + ".edgeguard.json")
    man = {"format": "edgeguard-manifest", "version": 1}
    side.write_text(json.dumps(man))  # invalid manifest → not current
    assert not default.cached_is_current(path, sha, specs)


@pytest.mark.slow
def test_demo_is_the_default_camera_run(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`edgeguard demo`: export on first use, drive-by past the stickered sign with the undefended
    engine beside the defended one, recorded video, events, summary ending with the fooled counts."""
    monkeypatch.setenv("EDGEGUARD_CACHE", str(tmp_path / "cache"))
    t0 = time.perf_counter()
    r = cli("demo", "--out-dir", str(tmp_path / "out"))
    wall = time.perf_counter() - t0
    assert r.returncode == 0, r.stderr
    assert "exporting the bundled stop-sign model as signs (undefended)" in r.stderr
    assert wall < 150  # the first run exports both engines (about 10 s on 2 idle cores)
    out = tmp_path / "out"
    s = json.loads((out / default.SUMMARY).read_text())
    assert s["frames"] == 240 and s["stopped_by"] == "end of source"
    assert Path(s["engine"]).name == default.engine_name() and s["engine_config"].startswith("signs + ")
    a = s["attack"]
    assert a["sticker"] == "stop-bars" and a["truth"] == "stop" and a["compare"]["engine"] == "signs"
    # the undefended engine has no detector: every frame not read "stop" is a fooled one
    assert a["fooled_undefended"] == 240 - a["compare"]["labels"].get("stop", 0)
    assert a["fooled_defended"] <= 240 - s["labels"].get("stop", 0)
    assert a["fooled_defended"] < a["fooled_undefended"]  # the defense holds better than none
    tail = r.stdout.strip().splitlines()[-2:]
    assert tail[0].endswith(f"undefended engine on {a['fooled_undefended']}/240 frames")
    assert f"fooled the defended engine on {a['fooled_defended']}/240 frames" in tail[1]
    assert count_frames(out / default.RECORD) == (240, (640, 480))
    assert (out / default.EVENTS).read_text().strip()
    for name in (default.RECORD, default.EVENTS, default.SUMMARY):
        assert str(out / name) in r.stdout
    cached = default.engine_path()
    sha, specs = default.expected_source()
    assert default.cached_is_current(cached, sha, specs)
    r2 = cli("camera", "--out-dir", str(tmp_path / "again"), "--max-frames", "5")
    assert r2.returncode == 0 and "exporting" not in r2.stderr  # second run: the cached engines
    man = json.loads(cached.with_name(cached.stem + ".edgeguard.json").read_text())
    man["defenses"] = ["bits:bits=4"]
    cached.with_name(cached.stem + ".edgeguard.json").write_text(json.dumps(man))
    assert not default.cached_is_current(cached, sha, specs)  # defenses differ → re-export next time


def _camera(cli, engine: Path, tmp_path: Path, *args: str):
    return cli(
        "camera",
        "-e",
        str(engine),
        "-i",
        "synthetic:stop-sign?frames=4",
        "--width",
        "160",
        "--height",
        "120",
        *args,
        cwd=tmp_path,
    )


def test_bad_crop_keeps_existing_events_and_summary(cli, sign_engine: Path, tmp_path: Path) -> None:
    """Issue #10: this once emptied keep.jsonl and replaced keep.json, then exited 2."""
    (tmp_path / "keep.jsonl").write_text('{"old": 1}\n')
    (tmp_path / "keep.json").write_text("OLD\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    r = _camera(
        cli,
        sign_engine,
        tmp_path,
        "--crop",
        "0,0,9999,9999",
        "--events",
        "keep.jsonl",
        "--summary",
        "new.json",
        "--record",
        "v.mp4",
        "--snapshots",
        "snaps",
    )
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        "edgeguard: error: --crop 0,0,9999,9999 lies outside the 160x120 frames of synthetic stop-sign "
        "drive-by (4 frames, 160x120); nothing was written"
    ]
    assert (tmp_path / "keep.jsonl").read_text() == '{"old": 1}\n'
    assert (tmp_path / "keep.json").read_text() == "OLD\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no video, summary, folder or temp
    r = _camera(cli, sign_engine, tmp_path, "--events", "keep.jsonl", "--summary", "keep.json")
    assert r.returncode == 2 and "--summary" in r.stderr and "--overwrite" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and (tmp_path / "keep.json").read_text() == "OLD\n"


def test_existing_outputs_append_refuse_or_overwrite(cli, sign_engine: Path, tmp_path: Path) -> None:
    r = _camera(cli, sign_engine, tmp_path, "--events", "e.jsonl", "--summary", "s.json", "--record", "v.mp4")
    assert r.returncode == 0, r.stderr
    first = (tmp_path / "e.jsonl").read_text().splitlines()
    video = (tmp_path / "v.mp4").read_bytes()
    r = _camera(cli, sign_engine, tmp_path, "--events", "e.jsonl", "--record", "v.mp4")
    assert r.returncode == 2 and "--record" in r.stderr and "already exists" in r.stderr
    assert (tmp_path / "v.mp4").read_bytes() == video
    r = _camera(cli, sign_engine, tmp_path, "--events", "e.jsonl", "--summary", "s2.json")
    assert r.returncode == 0, r.stderr
    lines = (tmp_path / "e.jsonl").read_text().splitlines()
    s2 = json.loads((tmp_path / "s2.json").read_text())
    assert lines[: len(first)] == first and len(lines) == len(first) + s2["events"]  # appended
    assert s2["outputs"]["events_appended"] is True
    r = _camera(
        cli,
        sign_engine,
        tmp_path,
        "--events",
        "e.jsonl",
        "--summary",
        "s.json",
        "--record",
        "v.mp4",
        "--overwrite",
        "--max-frames",
        "2",
    )
    assert r.returncode == 0, r.stderr
    s = json.loads((tmp_path / "s.json").read_text())
    assert s["frames"] == 2 and count_frames(tmp_path / "v.mp4") == (2, (160, 120))
    assert len((tmp_path / "e.jsonl").read_text().splitlines()) == s["events"]  # started afresh
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left behind


def test_folder_of_only_corrupt_images_is_an_error(cli, sign_engine: Path, tmp_path: Path) -> None:
    folder = tmp_path / "shots"
    folder.mkdir()
    (folder / "a.png").write_text("not a png")
    (folder / "b.jpg").write_bytes(b"\xff\xd8 truncated")
    r = cli("camera", "-e", str(sign_engine), "-i", str(folder))
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert f"2 images in {folder}: no frame could be read (2 unreadable or empty)" in lines[0]
