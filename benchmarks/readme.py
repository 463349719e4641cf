"""Write the README's performance tables from ``benchmarks/results/*.json``: no number typed by hand.

The README marks each generated block::

    <!-- bench:NAME -->
    …generated text…
    <!-- /bench:NAME -->

and :func:`render` replaces everything between a pair with what the renderer ``NAME`` (in
``readme_engine.py`` or ``readme_host.py``) makes of the committed JSON. ``tests/test_bench_readme.py``
regenerates the README and asserts it is unchanged, so a table cannot drift from its JSON. After a
benchmark run (``make bench`` does this itself)::

    python benchmarks/readme.py            # rewrite README.md in place
    python benchmarks/readme.py --check    # exit 1 (and name the blocks) if README.md is stale
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import readme_engine  # noqa: E402,F401  (registers its sections)
import readme_host  # noqa: E402,F401
from readme_format import SECTIONS  # noqa: E402

ROOT = HERE.parent
README = ROOT / "README.md"
RESULTS = HERE / "results"
BLOCK = re.compile(r"(<!-- bench:([\w-]+) -->\n)(.*?)(<!-- /bench:\2 -->)", re.S)


class StaleError(Exception):
    """A marker without its renderer, or an opened block that is never closed."""


def load_results(folder: Path = RESULTS) -> dict[str, Any]:
    """``{stem: parsed JSON}`` for every ``*.json`` in ``folder``."""
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))}


def render(text: str, results: dict[str, Any]) -> str:
    """``text`` with every ``bench:NAME`` block regenerated from ``results``.

    Raises:
        StaleError: a block names no renderer, or an opening marker has no closing one.
    """
    opened = re.findall(r"<!-- bench:([\w-]+) -->", text)
    closed = re.findall(r"<!-- /bench:([\w-]+) -->", text)
    if sorted(opened) != sorted(closed):
        raise StaleError(f"unpaired bench markers: opened {sorted(opened)}, closed {sorted(closed)}")

    def one(m: re.Match[str]) -> str:
        name = m.group(2)
        fn = SECTIONS.get(name)
        if fn is None:
            raise StaleError(f"<!-- bench:{name} -->: no renderer of that name in benchmarks/readme_*.py")
        try:
            body = fn(results).rstrip("\n") + "\n"
        except KeyError as e:  # a result file (or a field of it) the renderer needs is missing
            raise StaleError(f"<!-- bench:{name} -->: benchmarks/results lacks {e}; run its benchmark") from e
        return f"{m.group(1)}{body}{m.group(4)}"

    return BLOCK.sub(one, text)


def blocks(text: str) -> dict[str, str]:
    """``{NAME: body}`` of every generated block in ``text``."""
    return {m.group(2): m.group(3) for m in BLOCK.finditer(text)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only report stale blocks (exit 1 if any)")
    ap.add_argument("--readme", type=Path, default=README)
    ap.add_argument("--results", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    text = args.readme.read_text(encoding="utf-8")
    new = render(text, load_results(args.results))
    old_b, new_b = blocks(text), blocks(new)
    stale = [n for n in new_b if old_b.get(n) != new_b[n]]
    if args.check:
        for n in stale:
            print(f"stale: <!-- bench:{n} --> (run python benchmarks/readme.py)", file=sys.stderr)
        return 1 if stale else 0
    if new != text:
        tmp = args.readme.with_suffix(".md.tmp")
        tmp.write_text(new, encoding="utf-8")
        tmp.replace(args.readme)
    print(f"{len(new_b)} blocks, {len(stale)} rewritten: {', '.join(stale) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
