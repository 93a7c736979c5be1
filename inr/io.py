"""Atomic file writes: a reader never sees a half-written result, even after a kill."""
from __future__ import annotations

import glob
import json
import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


TEMPORARY_RANDOM = "????????"  # tempfile.mkstemp's random part: 8 characters


def _file_mode() -> int:
    """The mode a plain open() would give a new file (0o666 less the umask): mkstemp's own
    0o600 would hide results from the other users of a shared output folder."""
    umask = os.umask(0)  # read it (there is no other portable way) and put it straight back
    os.umask(umask)
    return 0o666 & ~umask


FILE_MODE = _file_mode()


def _temporary_affixes(path: Path) -> tuple[str, str]:
    """(prefix, suffix) of the temporary names of `path`: .<name>.XXXXXXXX.tmp<suffix>."""
    return f".{path.name}.", ".tmp" + path.suffix


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path` in one rename.

    On any exception the temporary file is removed and `path` is left as it was. A process
    killed meanwhile leaves the temporary file behind: `stale_temporaries` finds it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix, suffix = _temporary_affixes(path)
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def stale_temporaries(path: str | Path) -> list[Path]:
    """The temporary files of `path` (and of no other file) that atomic_path left beside it."""
    path = Path(path)
    prefix, suffix = _temporary_affixes(path)
    pattern = glob.escape(prefix) + TEMPORARY_RANDOM + glob.escape(suffix)
    return sorted(path.parent.glob(pattern)) if path.parent.is_dir() else []


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def _plain(value):
    """Strict-JSON values: non-finite floats (a diverged run's metrics) become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def write_json_atomic(path: str | Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(_plain(data), indent=2, sort_keys=False) + "\n")


def read_json(path: str | Path) -> Any:
    """Parse a JSON file written by write_json_atomic (null stands for a non-finite number)."""
    return json.loads(Path(path).read_text())
