"""The ``edgeguard`` command. Parsing and printing only; the work lives in the library.

Each command lives in its own module under ``edgeguard/cli/`` and registers itself on ``app`` when
imported (see ``_COMMANDS``). ``main()`` turns any :class:`~edgeguard.errors.EdgeGuardError` into one
line on stderr and exit code 2; ``--debug`` (or ``EDGEGUARD_DEBUG=1``) shows the traceback instead.
A command that needs a module only an extra installs (torch for ``export``/``train``) says which
extra to install, in the same one-line form (:mod:`edgeguard.extras`).
"""

from __future__ import annotations

import importlib
import os
import sys
import warnings

import typer

from ..errors import EdgeGuardError
from ..extras import from_import_error

app = typer.Typer(
    name="edgeguard",
    help="Adversarially robust vision models for edge GPUs: export defended models to ONNX/TensorRT, "
    "run them on images and cameras, and measure what each defense costs and buys.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# Modules that add commands to `app` when imported (one command or sub-app per module).
_COMMANDS = [
    "export",
    "infer",
    "defenses",
    "attacks",
    "attack",
    "models",
    "camera",
    "demo",
    "train",
    "data",
    "calib",
    "eval",
    "triton",
    "bench",
    "scenario",
    "scenario_surveillance",
]


def _print_version(value: bool) -> None:
    if value:
        from .._version import __version__

        print(f"edgeguard {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks for errors."),
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    if debug:
        os.environ["EDGEGUARD_DEBUG"] = "1"


def _load_commands() -> None:
    for mod in _COMMANDS:
        importlib.import_module(f"{__package__}.{mod}")


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv or os.environ.get("EDGEGUARD_DEBUG") == "1"
    _load_commands()
    # Third-party Python warnings (torch, onnx, …) are held back: a failed command prints exactly one
    # line, and a successful one shows them after its output (issue #10). --debug shows them as usual.
    with warnings.catch_warnings(record=not debug) as held:
        try:
            # standalone mode: click prints usage errors itself (exit 2); everything else reaches us.
            app(args=argv, prog_name="edgeguard")
        except EdgeGuardError as err:
            if debug:
                raise
            print(f"edgeguard: error: {err}", file=sys.stderr)
            sys.exit(err.exit_code)
        except SystemExit as done:
            if done.code not in (0, None):
                raise
            _show(held)
            raise
        except ImportError as exc:
            # A module only an extra installs (torch on the runtime install): name the extra, in one line.
            missing = from_import_error(exc, argv)
            if missing is None or debug:
                raise
            print(f"edgeguard: error: {missing}", file=sys.stderr)
            sys.exit(missing.exit_code)
        _show(held)


def _show(held: list[warnings.WarningMessage] | None) -> None:
    seen = set()
    for w in held or ():
        key = (str(w.message), w.category)
        if key not in seen:
            seen.add(key)
            print(f"warning: {w.message}", file=sys.stderr)
