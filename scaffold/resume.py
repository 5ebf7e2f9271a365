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
    the same kind (see :func:`run_kind`). Without one (``--trainer.logger false``):
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
    kind = run_kind(config)
    found = find_last_checkpoint(logs_root, kind)
    if found is None:
        raise ConfigError(
            f"--ckpt_path last: no {LAST}{_describe(kind)} under {logs_root}; run `scaffold fit` first, "
            "or give the checkpoint's path"
        )
    return found


# A run's kind: (model class, its identity init args, data class, its identity init args).
RunKind = tuple[str | None, dict[str, Any], str | None, dict[str, Any]]


def run_kind(config: Any) -> RunKind:
    """What makes two runs' checkpoints interchangeable for ``last``: same classes, same identity args.

    A class lists the init args that say which problem or data its runs are about in a class
    attribute ``identity_args`` (``ParameterProblem``: the objective; ``DataModule``: the source);
    the rest (layer sizes, learning rate, batch size) may differ: the checkpoint's own model
    hyperparameters are read into the config.
    """
    model_class, model_args = _identity(config.get("model"))
    data_class, data_args = _identity(config.get("data"))
    return model_class, model_args, data_class, data_args


def _identity(spec: Any) -> tuple[str | None, dict[str, Any]]:
    class_path = _class_path(spec)
    found = _import(class_path) if class_path else None
    if found is None:
        return None, {}
    init_args = spec.get("init_args") or {}
    return (
        f"{found.__module__}.{found.__qualname__}",
        {key: init_args.get(key) for key in getattr(found, "identity_args", ())},
    )


def _describe(kind: RunKind) -> str:
    model_class, model_args, data_class, data_args = kind
    if model_class is None:
        return ""
    args = [f"model.{key} {value!r}" for key, value in model_args.items()]
    args += [f"data.{key} {value!r}" for key, value in data_args.items()]
    return f" of a {model_class.rpartition('.')[2]} run" + (f" with {', '.join(args)}" if args else "")


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
        logger_class = _import(class_path) if class_path else None
        if logger_class is None:
            raise TypeError(f"not an importable class_path: {logger!r}")
        init_args = logger.get("init_args") or {}
        as_dict = getattr(init_args, "as_dict", None)  # a parsed jsonargparse Namespace
        root = logger_class(**(as_dict() if as_dict else dict(init_args))).root_dir
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


def _import(class_path: str) -> type | None:
    """The class ``class_path`` names, if it imports."""
    module, _, name = class_path.rpartition(".")
    try:
        found = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        return None
    return found if isinstance(found, type) else None


def find_last_checkpoint(logs_root: str | os.PathLike[str], kind: RunKind | None = None) -> Path | None:
    """The newest ``version_*/checkpoints/last.ckpt`` under a logger's root folder, if any.

    With ``kind`` (see :func:`run_kind`), only runs whose saved ``config.yaml`` is of that kind:
    every config logs into the same ``lightning_logs``.
    """
    candidates = [
        path
        for path in Path(logs_root).glob(f"version_*/checkpoints/{LAST}")
        if kind is None or kind[0] is None or _saved_kind(path.parent.parent) == kind
    ]
    return max(candidates, key=lambda path: path.stat().st_mtime, default=None)


def _saved_kind(run_folder: Path) -> RunKind | None:
    """The kind of the run whose ``config.yaml`` is in ``run_folder``, if it can be read."""
    import yaml

    try:
        saved = yaml.safe_load((run_folder / "config.yaml").read_text())
        return run_kind({"model": saved["model"], "data": saved.get("data")})
    except (OSError, KeyError, TypeError, AttributeError, yaml.YAMLError):
        return None


def run_version(checkpoint: Path) -> int | None:
    """N for a checkpoint inside ``version_N/checkpoints/``, else None."""
    folder = checkpoint.parent.parent.name
    number = folder.removeprefix("version_")
    return int(number) if folder.startswith("version_") and number.isdigit() else None
