"""Which file ``--ckpt_path last`` means, worked out from the configuration before anything is built.

Resolved that early, ``last`` is treated exactly as the file's path would be: LightningCLI reads a
given checkpoint's saved hyperparameters into the configuration before it builds the model, so a
run fitted with ``--model.hidden=[32]`` is tested with ``--ckpt_path last`` alone.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

from scaffold.checkpointing import LAST
from scaffold.errors import ConfigError


def resolve_last(config: Any) -> Path:
    """The checkpoint ``--ckpt_path last`` names for one subcommand's parsed ``config``; ConfigError if none.

    With a logger: the newest ``version_*/checkpoints/last.ckpt`` under its root folder of a run of
    the configured model class. Without one (``--trainer.logger false``):
    ``<default_root_dir>/checkpoints/last.ckpt``, Lightning's folder for checkpoints then.
    """
    trainer = config["trainer"]
    logs_root = _logs_root(trainer.get("logger"), trainer.get("default_root_dir"))
    if logs_root is None:
        found = Path(trainer.get("default_root_dir") or os.getcwd()) / "checkpoints" / LAST
        if not found.is_file():
            raise ConfigError(
                f"--ckpt_path last: no {found}; run `scaffold fit` first, or give the checkpoint's path"
            )
        return found
    class_path = _class_path(config.get("model"))
    found = find_last_checkpoint(logs_root, class_name(class_path) if class_path else None)
    if found is None:
        model = f" of a {class_path.rpartition('.')[2]} run" if class_path else ""
        raise ConfigError(
            f"--ckpt_path last: no {LAST}{model} under {logs_root}; run `scaffold fit` first, "
            "or give the checkpoint's path"
        )
    return found


def _logs_root(logger: Any, default_root_dir: str | None) -> Path | None:
    """The root folder of the runs of the configured (first) logger; None without a logger."""
    if isinstance(logger, list | tuple):
        logger = logger[0] if logger else False
    if logger is False:
        return None
    if logger is None or logger is True:  # Lightning's default logger and its folder
        return Path(default_root_dir or os.getcwd()) / "lightning_logs"
    class_path = _class_path(logger)
    try:
        if class_path is None:
            raise TypeError(f"a {type(logger).__name__}, not a class_path")
        module, _, name = class_path.rpartition(".")
        init_args = logger.get("init_args")
        built = getattr(importlib.import_module(module), name)(**(init_args.as_dict() if init_args else {}))
        root = built.root_dir
    except Exception as exc:  # any logger class: its own errors reach the user when the Trainer is built
        raise ConfigError(
            f"--ckpt_path last: cannot tell where the configured logger keeps its runs ({exc}); "
            "give the checkpoint's path"
        ) from None
    if not root:
        raise ConfigError(
            f"--ckpt_path last: the logger {class_path} keeps no local run folders; "
            "give the checkpoint's path"
        )
    return Path(root)


def _class_path(spec: Any) -> str | None:
    """``spec.class_path`` of a parsed ``class_path``/``init_args`` entry, if it is one."""
    get = getattr(spec, "get", None)
    class_path = get("class_path") if get is not None else None
    return class_path if isinstance(class_path, str) else None


def class_name(class_path: str) -> str | None:
    """The importable name of the class ``class_path`` names (a re-export's own module), if it imports."""
    module, _, name = class_path.rpartition(".")
    try:
        found = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        return None
    return f"{found.__module__}.{found.__qualname__}"


def find_last_checkpoint(logs_root: str | os.PathLike[str], model_class: str | None = None) -> Path | None:
    """The newest ``version_*/checkpoints/last.ckpt`` under a logger's root folder, if any.

    With ``model_class`` (e.g. ``scaffold.models.classifier.Classifier``), only runs whose saved
    ``config.yaml`` names that model: every config logs into the same ``lightning_logs``.
    """
    candidates = [
        path
        for path in Path(logs_root).glob(f"version_*/checkpoints/{LAST}")
        if model_class is None or _run_model_class(path.parent.parent) == model_class
    ]
    return max(candidates, key=lambda path: path.stat().st_mtime, default=None)


def _run_model_class(run_folder: Path) -> str | None:
    """The importable name of the model a run's ``config.yaml`` built, if it can be read."""
    import yaml

    try:
        class_path = yaml.safe_load((run_folder / "config.yaml").read_text())["model"]["class_path"]
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        return None
    return class_name(class_path) if isinstance(class_path, str) else None


def run_version(checkpoint: Path) -> int | None:
    """N for a checkpoint inside ``version_N/checkpoints/``, else None."""
    folder = checkpoint.parent.parent.name
    number = folder.removeprefix("version_")
    return int(number) if folder.startswith("version_") and number.isdigit() else None
