"""Scenarios: end-to-end evaluations of a threat and its defenses, with a report (issue 12).

* ``stop_sign`` — seed 004's drive-by: RP2 stickers (naive, adaptive, query-only) on a stop sign,
  seen at the table's distances and angles, through every configuration of :mod:`.stop_configs`
  (``edgeguard scenario stop-sign --out report/ [--quick]``).
"""

from __future__ import annotations
