"""A run that fails before it logs anything leaves no run folder behind.

Lightning creates ``version_N/`` (an event file, ``config.yaml``, ``hparams.yaml``) before the data
is loaded. A run refused there, by bad data say, would otherwise leave a ``version_N`` that
TensorBoard lists as an empty run, one more with every retry.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

# Files a run writes before it has logged or saved anything.
_SETTINGS_FILES = {"config.yaml", "hparams.yaml"}


def remove_unused_run_folder(trainer: Any) -> None:
    """Delete the logger's run folder if it holds nothing but settings and empty event files."""
    if trainer is None or not trainer.is_global_zero or trainer.logger is None:
        return
    folder = getattr(trainer.logger, "log_dir", None)
    if not folder or not Path(folder).is_dir() or Path(folder).resolve() == Path.cwd().resolve():
        return
    folder = Path(folder)
    if all(_holds_nothing(path) for path in folder.rglob("*") if not path.is_dir()):
        shutil.rmtree(folder, ignore_errors=True)


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
