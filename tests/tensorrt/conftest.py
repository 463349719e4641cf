"""Fixtures for the TensorRT tests: the fake ``tensorrt`` module and exported tiny graphs."""

from __future__ import annotations

import sys

import pytest
import torch

from edgeguard.engines import _trt
from tests.fakes.tensorrt_fake import make_fake
from tests.fakes.tiny import calib_folder, export_tiny

GPUS = {"orin": ("Orin", "8.7"), "h100": ("NVIDIA H100", "9.0")}


@pytest.fixture
def use_trt(monkeypatch):
    """``use_trt("10.3.0", gpu="orin")`` installs the fake TensorRT and a fake GPU (CPU buffers)."""

    def _use(version: str = "10.3.0", gpu: str = "orin"):
        name, cc = GPUS[gpu]
        fake = make_fake(version, device="sm" + cc.replace(".", ""))
        monkeypatch.setitem(sys.modules, "tensorrt", fake)
        monkeypatch.setattr(_trt, "device_info", lambda: {"name": name, "compute_capability": cc})
        monkeypatch.setattr(_trt, "torch_device", lambda: torch.device("cpu"))
        monkeypatch.setattr(_trt, "new_stream", lambda device: (0, lambda: None))
        return fake

    return _use


@pytest.fixture(scope="session")
def graphs(tmp_path_factory):
    """fp32 / fp16 / int8 exports of the tiny classifier with bits:5 + median:3x3 (one folder)."""
    d = tmp_path_factory.mktemp("trt_graphs")
    cal = calib_folder(d / "cal", n=16)
    return {p: export_tiny(d, p, cal if p == "int8" else None).path for p in ("fp32", "fp16", "int8")}
