"""Where the tool's files go: written whole or not at all, in folders that say whose they are.

Every file under ``--out`` is written to a hidden temporary name in its own folder and renamed
over the real name once complete (a rename within a folder is atomic), so an interrupted
command leaves the earlier file or the new one, never part of one. A command that writes a set
of files (``run --out``) stages them all and renames them together at the end, removing the
files of its set that an earlier run left and this one did not write (a trace from a smaller
run). A folder a study appends results to is locked while it runs (:func:`folder_lock`), and a
sweep's folder holds that sweep only (:func:`check_folder`).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import secrets
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from schedsim.errors import InputError

SWEEP_MARK = "sweep.json"  # a folder holding this file is a sweep's (schedsim.studies.sweep)
LOCK_SUFFIX = ".lock"
_TEMP = re.compile(r"^\..+\.tmp-(\d+)-[0-9a-f]{8}")


def temp_path(path: Path) -> Path:
    """A hidden name beside ``path`` with the same suffix (matplotlib picks the format by it)."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}{path.suffix}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(folder: Path) -> None:
    """Temporary files a killed process left in ``folder`` (its pid is gone)."""
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        m = _TEMP.match(name)
        if m and int(m.group(1)) != os.getpid() and not _alive(int(m.group(1))):
            (folder / name).unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary path to write ``path``'s new content to; renamed over it on success,
    removed on any error or interruption."""
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path.parent)
    tmp = temp_path(path)
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with replacing(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def append_json_line(fh: IO[str], record: dict[str, Any], *, compact: bool = False) -> None:
    """One record of a JSON Lines file, flushed and synced at once: a run that dies later
    keeps every record written before it (``compact``: no spaces after separators)."""
    fh.write(json.dumps(record, separators=(",", ":") if compact else None) + "\n")
    fh.flush()
    os.fsync(fh.fileno())


class StagedFiles:
    """A set of files written together: each to a temporary name, all renamed on leaving
    the ``with`` block without an error; the set's files this run did not write are removed.

    ``names`` is every file the command may write in the folder, so a reused folder never
    keeps one from an earlier run beside the new ones.
    """

    def __init__(self, folder: Path, names: Collection[str]) -> None:
        self.folder = folder
        self.names = names
        self._staged: dict[str, Path] = {}
        self.written: list[Path] = []

    def __enter__(self) -> StagedFiles:
        self.folder.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(self.folder)
        return self

    def path(self, name: str) -> Path:
        """Where to write ``name`` now (a temporary path until the set is complete)."""
        if name not in self.names:
            raise ValueError(f"{name} is not one of this folder's files")
        tmp = temp_path(self.folder / name)
        self._staged[name] = tmp
        return tmp

    def write_text(self, name: str, text: str) -> None:
        self.path(name).write_text(text, encoding="utf-8")

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if kind is None:
                for tmp in self._staged.values():
                    _fsync(tmp)
                for name, tmp in self._staged.items():
                    os.replace(tmp, self.folder / name)
                    self.written.append(self.folder / name)
                for name in self.names:
                    if name not in self._staged:
                        (self.folder / name).unlink(missing_ok=True)
        finally:
            for tmp in self._staged.values():
                tmp.unlink(missing_ok=True)


def read_bytes(path: Path, what: str) -> bytes:
    """A file to read back; a failure (a folder, no permission) is one line naming the file
    and saying that reading failed, never a "cannot write"."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(str(path), "", f"{what} (reading failed: {exc.strerror or exc})",
                         has_value=False) from None


def read_text(path: Path, what: str) -> str:
    """:func:`read_bytes` as UTF-8 text."""
    try:
        return read_bytes(path, what).decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(str(path), "", f"{what} (reading failed: not UTF-8 text)",
                         has_value=False) from None


@contextmanager
def folder_lock(folder: Path, name: str, what: str) -> Iterator[None]:
    """Hold ``folder/name`` locked while the block runs; another process asking for the same
    lock is refused with one line naming the holder.

    A POSIX record lock (``lockf``) rather than ``flock``: it is not inherited by forked
    worker processes, so it goes with this process when it dies, even by SIGKILL, although
    orphaned workers may live on.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "?"
            os.close(fd)
            raise InputError(str(folder), "", f"a folder no other {what} is using (process "
                             f"{holder} holds {name}; wait for it or use another --out)",
                             has_value=False) from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:  # not a file the previous holder removed between our open and lock
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        path.unlink(missing_ok=True)
        os.close(fd)


def _tool_file(name: str) -> bool:
    """A lock or temporary file, which says nothing about whose the folder is."""
    return name.endswith(LOCK_SUFFIX) or _TEMP.match(name) is not None


def check_folder(folder: Path, kind: str, flag: str = "--out") -> None:
    """A sweep's folder holds that sweep only: a sweep refuses a folder with other files, and
    the other commands (whose files may share a folder, as ``docs`` does) refuse a sweep's."""
    if not folder.is_dir():
        return
    swept = (folder / SWEEP_MARK).exists()
    if kind == "sweep" and not swept:
        others = sorted(p.name for p in folder.iterdir() if not _tool_file(p.name))
        if others:
            shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
            raise InputError(f"{flag} {folder}", "", "an empty folder or a sweep's (with "
                             f"{SWEEP_MARK}), got a folder holding {shown}; use another --out",
                             has_value=False)
    elif kind != "sweep" and swept:
        raise InputError(f"{flag} {folder}", "", f"a folder that is not a sweep's, got one "
                         f"holding {SWEEP_MARK}; use another --out", has_value=False)
