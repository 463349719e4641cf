"""A rich progress bar with ETA over an evaluation's cells (on stderr)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .plan import Cell


class progress_bar:
    """A rich progress bar with ETA over cells (on stderr); a no-op when ``show`` is false."""

    def __init__(self, total: int, done: int, show: bool) -> None:
        self.total, self.done, self.show = total, done, show and total > 0
        self._bar: Any = None

    def __enter__(self) -> Callable[[Cell], None]:
        if not self.show:
            return lambda cell: None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._bar.start()
        task = self._bar.add_task("cells", total=self.total, completed=self.done)

        def advance(cell: Cell) -> None:
            eps = "min" if cell.eps is None else f"{cell.eps:.4g}"
            self._bar.update(
                task, advance=1, description=f"{cell.config['name'][:30]} {cell.attack.name} ε={eps}"
            )

        return advance

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()


__all__ = ["progress_bar"]
