"""A run that fails before it logs anything leaves no run folder behind.

Lightning creates ``version_N/`` (an event file, ``config.yaml``, ``hparams.yaml``) before the data
is loaded. A run refused there, by bad data say, would otherwise leave a ``version_N`` that
TensorBoard lists as an empty run, one more with every retry. Only folders this run created are
removed, and only while they hold nothing but those files.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

# Files a run writes before it has logged or saved anything.
_SETTINGS_FILES = {"config.yaml", "hparams.yaml"}


def new_run_folders(trainer: Any) -> list[list[Path]]:
    """For each logger of ``trainer`` whose run folder does not exist yet: it and its missing parents.

    Call before the run starts; pass the result to :func:`remove_unused_run_folders` if it fails.
    """
    if trainer is None or not trainer.is_global_zero:
        return []
    found = []
    for logger in trainer.loggers:
        try:
            folder = getattr(logger, "log_dir", None)  # fixes a TensorBoard/CSV logger's version now
        except Exception:  # a logger of the user's that cannot tell yet
            continue
        missing, path = [], Path(folder) if folder else None
        while path is not None and not path.exists():
            missing.append(path)
            path = path.parent
        if missing:
            found.append(missing)
    return found


def remove_unused_run_folders(found: list[list[Path]]) -> None:
    """Delete the run folders :func:`new_run_folders` found that hold nothing yet, and their new parents."""
    for folder, *parents in found:
        files = [path for path in folder.rglob("*") if path.is_file()] if folder.is_dir() else None
        if files is None or not all(_holds_nothing(path) for path in files):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        for parent in parents:  # e.g. the lightning_logs/ made for it, now empty
            try:
                parent.rmdir()
            except OSError:
                break


def _holds_nothing(path: Path) -> bool:
    if path.name in _SETTINGS_FILES:
        return True
    if not path.name.startswith("events.out.tfevents"):
        return False
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    try:  # the file's version header is its only event until something is logged
        return all(event.WhichOneof("what") == "file_version" for event in EventFileLoader(str(path)).Load())
    except Exception:  # unreadable: not ours to delete
        return False
