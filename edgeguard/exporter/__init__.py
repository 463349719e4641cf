"""How to export (the build side; engines only run what it writes).

``onnx.py`` traces, checks, simplifies and parity-checks a defended model; ``compose.py`` prepends
defenses to an existing ONNX file; ``precision.py``/``quantize.py`` lower to FP16/INT8;
``tensorrt.py`` builds and caches plans (and rebuilds a plan the runtime refused as stale);
``parity.py`` judges the engine comparator's figures. ``graph.py`` holds the ONNX helpers all of them
share and imports none of them, so the package has no import circles. The public entry point is
:func:`edgeguard.export`.

The package is called ``exporter`` (not ``export``) so that ``edgeguard.export`` can stay a plain
function: a subpackage of the same name would replace that attribute when imported.
"""

from __future__ import annotations
