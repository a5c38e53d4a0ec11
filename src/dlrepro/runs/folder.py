"""A results folder read as untrusted input: `dlrepro report` opens every file of it through `Folder`.

A results folder is data users copy and share, so the report trusts nothing in it:
- every path it reads resolves inside the folder: a symbolic link that leads out of it (a run's config.json,
  a run folder, runs/<study>, runs/ itself) is refused with the link's name (`Unreadable`);
- only regular files are opened (a FIFO or a device is refused without blocking on it), each with a size
  limit from what a file of its kind can hold;
- text is UTF-8 and JSON is plain JSON (no NaN or Infinity, bounded nesting); errors name the file and line;
- the folders it writes into (figures/) are real folders inside it, never links (`Folder.own_dir`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from dlrepro.errors import DlreproError
from dlrepro.readfile import FileRefused, MiB, read_regular

KB, MB = 1024, MiB


class Unreadable(DlreproError):
    """A file or folder of a results folder that the report does not read: `path` as the user named it,
    `rel` relative to the results folder (the form the report shows), and why."""

    def __init__(self, path: Path, rel: str, reason: str):
        super().__init__(_join(str(path), reason))
        self.path, self.rel, self.reason = path, rel, reason

    @property
    def short(self) -> str:
        """'runs/toy/x/metrics.jsonl line 3: not JSON', for the report."""
        return _join(self.rel, self.reason)


def _join(name: str, reason: str) -> str:
    """'summary.json is a FIFO, ...', 'metrics.jsonl line 3: ...', 'config.json: not a valid run config'."""
    return f"{name} {reason}" if reason.startswith(("is ", "line ", "grew ", "holds ", "cannot ")) else \
        f"{name}: {reason}"


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


class Folder:
    """The results folder `root` (as the user named it); paths are checked against its real location."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.real = Path(os.path.realpath(self.root))

    def rel(self, path: Path) -> str:
        try:
            return Path(path).relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    def error(self, path: Path, reason: str) -> Unreadable:
        return Unreadable(Path(path), self.rel(path), reason)

    def outside(self, path: Path) -> str | None:
        """Why `path` is not read (it leads out of the folder through a link), or None when it stays inside."""
        real = Path(os.path.realpath(path))
        if real == self.real or real.is_relative_to(self.real):
            return None
        link = next((p for p in (Path(path), *Path(path).parents) if p.is_symlink()), Path(path))
        name = self.rel(link)
        return (f"{name} is a link to {os.readlink(link)}, outside the results folder; not read" if link.is_symlink()
                else f"{name} is outside the results folder; not read")

    def check(self, path: Path) -> Path:
        """`path` itself, when it resolves inside the folder; else Unreadable naming the link."""
        why = self.outside(path)
        if why is not None:
            raise Unreadable(Path(path), self.rel(path), why.removeprefix(f"{self.rel(path)} "))
        return Path(path)

    def exists(self, path: Path) -> bool:
        """Whether there is something at `path` (a dangling or outside link counts: reading it says why)."""
        return os.path.lexists(path)

    def subdirs(self, path: Path) -> list[Path]:
        """The folders directly under `path` (a real folder inside), by name; links to folders included (the
        reader of each checks where it leads). [] when `path` is no folder."""
        self.check(path)
        if not Path(path).is_dir():
            return []
        return sorted(p for p in Path(path).iterdir() if p.is_dir() or (p.is_symlink() and not p.exists()))

    # --- reading -------------------------------------------------------------------------------------
    def read_bytes(self, path: Path, limit: int) -> bytes:
        """The bytes of the regular file at `path`, at most `limit` of them (Unreadable otherwise)."""
        self.check(path)
        try:
            return read_regular(os.path.realpath(path), limit, what="file of its kind", follow=False)
        except FileRefused as exc:
            raise self.error(path, exc.reason) from None
        except OSError as exc:
            raise self.error(path, f"cannot be read ({exc.strerror})") from None

    def read_text(self, path: Path, limit: int) -> str:
        data = self.read_bytes(path, limit)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data[:exc.start].count(b"\n") + 1
            raise self.error(path, f"line {line}: not UTF-8 text") from None

    def read_json(self, path: Path, limit: int):
        """The JSON value in the file; NaN, Infinity and nesting too deep to parse are errors."""
        return self.parse_json(path, self.read_text(path, limit))

    def parse_json(self, path: Path, text: str, line: int | None = None):
        where = f"line {line}: " if line is not None else ""
        try:
            return json.loads(text, parse_constant=_reject_constant)
        except json.JSONDecodeError as exc:
            at = line if line is not None else exc.lineno
            raise self.error(path, f"line {at}: not JSON ({exc.msg})") from None
        except ValueError as exc:
            raise self.error(path, f"{where}{exc}") from None
        except RecursionError:
            raise self.error(path, f"{where}nested too deeply to read") from None

    def read_jsonl(self, path: Path, limit: int) -> list:
        """One JSON value per line. A last line without its newline that does not parse is a write cut short
        by a killed run, and is left out; any other line that does not parse is an error naming it."""
        text = self.read_text(path, limit)
        lines = text.split("\n")
        values = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                values.append(self.parse_json(path, line, number))
            except Unreadable:
                if number == len(lines):  # no newline after it: torn
                    break
                raise
        return values

    # --- writing -------------------------------------------------------------------------------------
    def own_dir(self, path: Path) -> Path:
        """The real folder `path` inside the results folder, created if missing: every part of it from the
        results folder down must be a folder, not a link (Unreadable naming the one that is not)."""
        path = Path(path)
        parts = path.relative_to(self.root).parts
        current = self.root
        for part in parts:
            current = current / part
            if current.is_symlink():
                raise self.error(current, f"is a link (to {os.readlink(current)}); the report writes only into a "
                                          "real folder: remove the link")
            if current.exists() and not current.is_dir():
                raise self.error(current, "is not a folder; the report writes its figures there: move it away")
            current.mkdir(exist_ok=True)
        return path
