"""Provenance: the versions an export records do not depend on what the process imported first."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

from edgeguard.provenance import file_sha256, versions

CODE = """
import json, sys
from edgeguard.provenance import versions
before = versions()
assert "torch" not in sys.modules and "torchvision" not in sys.modules, "versions() imported torch"
import torch, torchvision
print(json.dumps([before, versions(), torch.__version__, torchvision.__version__]))
"""


def test_versions_are_the_same_before_and_after_importing_torch():
    # The CLI exports in a fresh process (torchvision never imported for the sign model) while the
    # Python API may have imported it: both must record the same versions, build tag included.
    import json

    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True)
    before, after, torch_v, tv_v = json.loads(out.stdout)
    assert before == after
    assert before["torch"] == torch_v and before["torchvision"] == tv_v  # the imported module's own word
    assert before["onnxruntime"] == metadata.version("onnxruntime")


def test_missing_packages_are_left_out_and_sha256_matches_hashlib(tmp_path):
    import hashlib

    assert versions(("no-such-package-edgeguard",)) == {"edgeguard": versions()["edgeguard"]}
    f = tmp_path / "w.bin"
    f.write_bytes(b"edgeguard" * 300_000)  # spans several 1 MiB chunks
    assert file_sha256(f) == hashlib.sha256(f.read_bytes()).hexdigest()
