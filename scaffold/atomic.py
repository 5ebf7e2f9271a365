"""Atomic file writes: a reader sees the old file or the complete new one, never a torn one."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

# mkstemp creates files as 0600; a finished file gets the permissions open() would give it.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], fsync: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success, ``os.replace`` it into place.

    ``os.replace`` alone makes the write atomic for readers and against the writer being killed;
    ``fsync`` (default) also makes it durable across a power loss, at a cost of milliseconds.

    Write the whole file to the yielded path (any library that takes a filename will do).
    The temporary name keeps ``path``'s suffix (so ``np.save`` does not append another). If the
    block raises, or the process dies, the temporary file is removed or left under a hidden
    ``.tmp`` name that no reader looks for, and ``path`` is untouched.

    Example::

        with atomic_path("x.npy") as tmp:
            np.save(tmp, array)
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=f".tmp{target.suffix}")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)
        if fsync:
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
