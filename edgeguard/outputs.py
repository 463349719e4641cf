"""Safe output files: check every destination first, write to temporary names, rename all at the end.

A command that writes several files (an ONNX graph + its sidecar + a TensorRT plan; a camera run's
summary + events + previews) must never leave a half-written group behind nor destroy a file the
user had, when it fails part-way (issue #10: ``export --out o.onnx`` with a folder named
``o.edgeguard.json`` replaced ``o.onnx`` and then died). So::

    with OutputGroup([out, sidecar], what="--out") as group:   # checks all destinations now
        onnx.save(model, group.temp(out))                     # hidden temp file in out's folder
        group.write_text(sidecar, text)
    # all temps renamed onto their destinations here; on any exception every temp is removed

Temps live in the destination's folder so the final :func:`os.replace` is a same-filesystem rename
(atomic per file on POSIX). Renaming a group is not atomic as a whole, but after the checks the
renames in one existing folder do not fail in practice.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

from .errors import ConfigError

# Pseudo file systems: writing there changes kernel state or fails in odd ways, never a user file.
_FORBIDDEN_ROOTS = (Path("/proc"), Path("/sys"), Path("/dev"))
_DEFAULT_NAME_MAX = 255
_DEFAULT_PATH_MAX = 4096
_TEMP_PREFIX = ".eg-"


def _limit(folder: Path, name: str, default: int) -> int:
    try:
        return int(os.pathconf(folder, name))
    except (OSError, ValueError):
        return default


def _exists(path: Path) -> bool:
    try:
        os.lstat(path)
    except OSError:  # ENOENT, ENOTDIR (a parent is a file), ENAMETOOLONG …
        return False
    return True


def _nearest_existing(path: Path) -> Path:
    p = path
    while not _exists(p) and p != p.parent:
        p = p.parent
    return p


def check_destination(
    path: str | os.PathLike[str],
    *,
    what: str = "output",
    exists: str = "replace",
    make_parents: bool = False,
) -> Path:
    """Check that a file can be written at ``path`` without harm; return it as an absolute Path.

    Args:
        path: the destination file.
        what: how the message names it (an option such as ``--out``).
        exists: ``"replace"`` (an existing file will be replaced) or ``"refuse"`` (an error if it exists).
        make_parents: allow missing parent folders (they are created when the group writes).

    Raises:
        ConfigError: the path is empty or too long, lies under /proc, /sys or /dev, is a folder, lies
            inside a file, its folder is missing (unless ``make_parents``) or not writable, or it exists
            and ``exists="refuse"``.
    """
    if exists not in ("replace", "refuse"):
        raise ValueError(f"exists={exists!r}: expected 'replace' or 'refuse'")
    text = os.fspath(path)
    if not text or not text.strip():
        raise ConfigError(f"{what}: empty file name")
    if "\x00" in text:
        raise ConfigError(f"{what}: the file name contains a NUL byte")
    p = Path(os.path.abspath(os.path.expanduser(text)))
    shown = text if len(text) <= 80 else text[:40] + "…" + text[-30:]
    real = Path(os.path.realpath(p))
    for root in _FORBIDDEN_ROOTS:
        if real == root or root in real.parents:
            raise ConfigError(f"{what} {shown!r}: refusing to write under {root} (a system folder)")
    if p.name in ("", ".", ".."):
        raise ConfigError(f"{what} {shown!r}: not a file name")
    anchor = _nearest_existing(p.parent)
    if not anchor.is_dir():
        raise ConfigError(f"{what} {shown!r}: {str(anchor)!r} is a file, not a folder")
    name_max = _limit(anchor, "PC_NAME_MAX", _DEFAULT_NAME_MAX)
    path_max = _limit(anchor, "PC_PATH_MAX", _DEFAULT_PATH_MAX)
    too_long = [part for part in p.parts[1:] if len(os.fsencode(part)) > name_max]
    if too_long:
        raise ConfigError(
            f"{what} {shown!r}: a name of {len(os.fsencode(too_long[0]))} bytes is longer than this file "
            f"system allows ({name_max})"
        )
    if len(os.fsencode(str(p))) >= path_max:
        raise ConfigError(f"{what} {shown!r}: the path is longer than this system allows ({path_max} bytes)")
    if anchor != p.parent and not make_parents:
        raise ConfigError(f"{what} {shown!r}: folder {str(p.parent)!r} does not exist")
    if not os.access(anchor, os.W_OK | os.X_OK):
        raise ConfigError(f"{what} {shown!r}: folder {str(anchor)!r} is not writable")
    if p.is_dir():
        raise ConfigError(f"{what} {shown!r} is a folder; give a file name")
    if _exists(p):
        if exists == "refuse":
            raise ConfigError(f"{what} {shown!r} already exists; remove it or choose another name")
        if not p.is_file():
            raise ConfigError(f"{what} {shown!r} exists and is not a regular file")
    return p


class OutputGroup:
    """A set of output files written all-or-nothing (see the module docstring).

    Args:
        paths: every destination the group may write; all are checked now (:func:`check_destination`).
        what: option name for messages, or one per path.
        exists: ``"replace"`` or ``"refuse"`` for existing files.
        make_parents: create missing parent folders (removed again if the group fails while empty).

    Raises:
        ConfigError: a destination is unusable, or two destinations are the same file.
    """

    def __init__(
        self,
        paths: Iterable[str | os.PathLike[str]],
        *,
        what: str | Iterable[str] = "output",
        exists: str = "replace",
        make_parents: bool = False,
    ) -> None:
        paths = list(paths)
        names = [what] * len(paths) if isinstance(what, str) else list(what)
        if len(names) != len(paths):
            raise ValueError("give one `what` per path")
        self._dest: list[Path] = []
        for p, w in zip(paths, names, strict=True):
            dest = check_destination(p, what=w, exists=exists, make_parents=make_parents)
            if dest in self._dest:
                raise ConfigError(f"{w} {str(p)!r}: the same file is given for two outputs")
            self._dest.append(dest)
        self._temps: dict[Path, Path] = {}
        self._made: list[Path] = []
        self._make_parents = make_parents
        self.committed = False

    @property
    def paths(self) -> list[Path]:
        """The checked destinations, absolute, in the order given."""
        return list(self._dest)

    def _key(self, dest: str | os.PathLike[str]) -> Path:
        p = Path(os.path.abspath(os.path.expanduser(os.fspath(dest))))
        if p not in self._dest:
            raise ValueError(f"{p} is not one of this group's destinations")
        if self.committed:
            raise RuntimeError("the group is already committed")
        return p

    def _ensure_folder(self, folder: Path) -> None:
        missing = []
        p = folder
        while not _exists(p):
            missing.append(p)
            p = p.parent
        for m in reversed(missing):
            try:
                m.mkdir()
            except OSError as exc:
                raise ConfigError(f"cannot create folder {str(m)!r} ({exc.strerror})") from None
            self._made.append(m)

    def temp(self, dest: str | os.PathLike[str], *, keep_existing: bool = False) -> Path:
        """The temporary file that stands for ``dest`` until :meth:`commit` (created empty, mode 0644-ish).

        ``keep_existing`` starts the temp as a copy of the current file (for appending to a log).
        The temp keeps ``dest``'s suffix (OpenCV picks the image format from it).
        """
        p = self._key(dest)
        if p in self._temps:
            return self._temps[p]
        if self._make_parents:
            self._ensure_folder(p.parent)
        suffix = p.suffix if len(p.suffix) <= 16 else ".tmp"
        try:
            fd, name = tempfile.mkstemp(dir=p.parent, prefix=_TEMP_PREFIX, suffix=suffix)
        except OSError as exc:
            raise ConfigError(f"cannot write in {str(p.parent)!r} ({exc.strerror})") from None
        os.close(fd)
        tmp = Path(name)
        self._temps[p] = tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; the final file gets normal permissions
        if keep_existing and p.is_file():
            shutil.copyfile(p, tmp)
        return tmp

    def write_bytes(self, dest: str | os.PathLike[str], data: bytes) -> Path:
        tmp = self.temp(dest)
        tmp.write_bytes(data)
        return tmp

    def write_text(self, dest: str | os.PathLike[str], text: str) -> Path:
        tmp = self.temp(dest)
        tmp.write_text(text, encoding="utf-8")
        return tmp

    def commit(self) -> list[Path]:
        """Rename every written temp onto its destination; return the destinations written."""
        if self.committed:
            return [d for d in self._dest if d in self._temps]
        done = []
        for dest in self._dest:
            tmp = self._temps.get(dest)
            if tmp is None:
                continue
            if dest.is_dir():  # appeared since the check
                self.abort()
                raise ConfigError(f"{str(dest)!r} became a folder while writing; nothing was written")
            os.replace(tmp, dest)
            done.append(dest)
        self.committed = True
        self._temps.clear()
        self._made.clear()
        return done

    def abort(self) -> None:
        """Remove every temp (and folders this group created, when empty); destinations stay as they were."""
        for tmp in self._temps.values():
            with contextlib.suppress(OSError):
                tmp.unlink()
        self._temps.clear()
        for folder in reversed(self._made):
            with contextlib.suppress(OSError):
                folder.rmdir()
        self._made.clear()

    def __enter__(self) -> OutputGroup:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            try:
                self.commit()
            except BaseException:
                self.abort()
                raise
        else:
            self.abort()


__all__ = ["OutputGroup", "check_destination"]
