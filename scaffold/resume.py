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
    the same kind (see :func:`run_kind`), or its own version's when the logger's version is set.
    Without one (``--trainer.logger false``): ``<default_root_dir>/checkpoints/last.ckpt``,
    Lightning's folder for checkpoints then.
    """
    trainer = config["trainer"]
    # As Lightning reads it: "~/runs" is the home folder's runs.
    default_root = os.path.normpath(os.path.expanduser(trainer.get("default_root_dir") or os.getcwd()))
    logs = _logs_folder(trainer.get("logger"), default_root)
    if logs is None:  # no logger: Lightning's folder for checkpoints then
        return _existing(Path(default_root) / "checkpoints" / LAST)
    root, version = logs
    if version is not None:  # the logger's own version folder
        return _existing(
            root / (f"version_{version}" if isinstance(version, int) else str(version)) / _IN_RUN
        )
    kind = run_kind(config)
    found = find_last_checkpoint(root, kind)
    if found is None:
        raise ConfigError(
            f"--ckpt_path last: no {LAST}{_describe(kind)} under {root}; run `scaffold fit` first, "
            "or give the checkpoint's path"
        )
    return found


_IN_RUN = Path("checkpoints") / LAST  # a run folder's last.ckpt


def _existing(path: Path) -> Path:
    if not path.is_file():
        raise ConfigError(
            f"--ckpt_path last: no {path}; run `scaffold fit` first, or give the checkpoint's path"
        )
    return path


# A run's kind: (model class, its identity init args, data class, its identity init args).
RunKind = tuple[str | None, dict[str, Any], str | None, dict[str, Any]]


def run_kind(config: Any) -> RunKind:
    """What makes two runs' checkpoints interchangeable for ``last``: same classes, same identity args.

    A class lists the init args that say which problem or data its runs are about in a class
    attribute ``identity_args`` (``ParameterProblem``: the objective; ``DataModule``: the source and
    path, compared as resolved paths); the rest (layer sizes, learning rate, batch size) may
    differ: the checkpoint's own model hyperparameters are read into the config.
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
    identity = {}
    for key in getattr(found, "identity_args", ()):
        if not _takes(found, key):
            continue  # a subclass that fixes it (Rosenbrock's objective): its class tells its runs apart
        value = _plain(init_args.get(key))
        if key.endswith("path") and isinstance(value, str):  # "./a.svm" and "a.svm" are one file
            value = os.path.realpath(os.path.expanduser(value))
        identity[key] = value
    return f"{found.__module__}.{found.__qualname__}", identity


def _plain(value: Any) -> Any:
    """``value`` as its saved ``config.yaml`` reads back: tuples as lists, namespaces as dicts."""
    as_dict = getattr(value, "as_dict", None)
    if as_dict is not None:
        value = as_dict()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _describe(kind: RunKind) -> str:
    model_class, model_args, data_class, data_args = kind
    if model_class is None:
        return ""
    args = [f"model.{key} {value!r}" for key, value in model_args.items()]
    args += [f"data.{key} {value!r}" for key, value in data_args.items()]
    return f" of a {model_class.rpartition('.')[2]} run" + (f" with {', '.join(args)}" if args else "")


def _logs_folder(logger: Any, default_root: str) -> tuple[Path, int | str | None] | None:
    """The configured (first) logger's root folder and set version (None: the next); None if no logger."""
    if isinstance(logger, list | tuple):
        logger = logger[0] if logger else False
    if logger is False:
        return None
    if logger is None or logger is True:  # Lightning's default logger and its folder
        return Path(default_root) / "lightning_logs", None
    class_path = _class_path(logger)
    try:
        logger_class = _import(class_path) if class_path else None
        if logger_class is None:
            raise TypeError(f"not an importable class_path: {logger!r}")
        init_args = logger.get("init_args") or {}
        as_dict = getattr(init_args, "as_dict", None)  # a parsed jsonargparse Namespace
        built = logger_class(**(as_dict() if as_dict else dict(init_args)))
        root, version = built.root_dir, init_args.get("version")
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
    return Path(os.path.expanduser(root)), version


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
        for path in Path(logs_root).glob(f"version_*/{_IN_RUN}")
        if kind is None or kind[0] is None or _saved_kind(path.parent.parent) == kind
    ]
    return max(candidates, key=lambda path: path.stat().st_mtime, default=None)


def _saved_kind(run_folder: Path) -> RunKind | None:
    """The kind of the run whose ``config.yaml`` is in ``run_folder``, if it can be read."""
    import yaml

    try:
        saved = yaml.safe_load((run_folder / "config.yaml").read_text())
        return run_kind({"model": saved["model"], "data": saved.get("data")})
    except (OSError, KeyError, TypeError, AttributeError, yaml.YAMLError, ConfigError):
        return None


def merge_checkpoint_settings(path: str, configured: Any, loaded: Any) -> None:
    """Keep the configured run-time settings over a checkpoint's, and say which others it replaced.

    ``configured`` and ``loaded`` are the config's ``model`` entry before and after LightningCLI read
    the checkpoint ``path`` into it (unknown names land in ``dict_kwargs``). A model class lists the
    init args that say how to run it, not what it is, in ``runtime_args`` (the Classifier's
    ``steps_per_call``): those keep the command line's value. Settings left unset in the config
    (None: e.g. sizes taken from the data) are not reported. Settings the class does not take are
    dropped, as ``load_from_checkpoint`` drops them. A configured subclass of the checkpoint's model
    that takes all its settings (a user's own hooks) stays, with those settings; otherwise a
    checkpoint of a related class replaces the configured model; one of an unrelated class is refused.
    """
    from lightning.pytorch.utilities import rank_zero_info

    model_class = _import(_class_path(loaded) or "")
    configured_class = _import(_class_path(configured) or "")
    if model_class is None or configured_class is None:  # not importable here: LightningCLI's rule
        if _class_path(configured) != _class_path(loaded):
            rank_zero_info(_replaces(path, loaded))
            return
    elif model_class is not configured_class:  # (one class may be spelled by two module paths)
        saved = _plain(loaded.get("init_args") or {})
        if issubclass(configured_class, model_class) and all(_declares(configured_class, n) for n in saved):
            # The user's subclass (its own hooks) stays; one that fixes a setting itself (its objective,
            # its layers; also behind **kwargs) could not be built as the checkpoint's model, which
            # then replaces it.
            _keep_configured_class(path, configured, loaded, configured_class, model_class)
            model_class = configured_class
        elif issubclass(model_class, configured_class) or issubclass(configured_class, model_class):
            rank_zero_info(_replaces(path, loaded))
            _drop_unknown_settings(path, loaded, model_class)
            return
        else:  # a Classifier's weights on a problem (or the reverse) run, but measure nothing
            raise ConfigError(
                f"--ckpt_path {path}: a checkpoint of a {model_class.__name__}, but this config's model is "
                f"a {configured_class.__name__}; give a checkpoint of a run of this config"
            )
    _drop_unknown_settings(path, loaded, model_class)
    before, loaded_args = configured.get("init_args") or {}, loaded.get("init_args")
    for name in getattr(model_class, "runtime_args", ()):
        if loaded_args is not None and name in before:
            loaded_args[name] = before[name]
    before, after = _plain(before), _plain(loaded_args or {})
    changed = [
        f"{name} {before[name]!r} -> {value!r}"
        for name, value in after.items()
        if before.get(name) is not None and before[name] != value
    ]
    if changed:
        rank_zero_info(
            f"--ckpt_path {path}: the checkpoint's model settings replace the configured ones: "
            + ", ".join(changed)
        )


def _replaces(path: str, loaded: Any) -> str:
    return f"--ckpt_path {path}: the checkpoint's model, {_class_path(loaded)}, replaces the configured one"


def _drop_unknown_settings(path: str, loaded: Any, model_class: type | None) -> None:
    # As load_from_checkpoint does: e.g. the sizes a Classifier subclass takes from the data.
    from lightning.pytorch.utilities import rank_zero_info

    unknown = sorted(_plain(loaded.get("dict_kwargs") or {}))
    if unknown and model_class is not None and not _takes(model_class, None):
        loaded["dict_kwargs"] = {}
        rank_zero_info(
            f"--ckpt_path {path}: {model_class.__name__} takes no {', '.join(unknown)}; "
            "the checkpoint's values for them are ignored"
        )


def _keep_configured_class(
    path: str, configured: Any, loaded: Any, configured_class: type, model_class: type
) -> None:
    """Load a ``model_class`` checkpoint into the configured subclass, which takes all its settings."""
    from jsonargparse import Namespace
    from lightning.pytorch.utilities import rank_zero_info

    init_args = configured.get("init_args")
    init_args = init_args.clone() if init_args is not None else Namespace()
    saved = loaded.get("init_args") or {}
    for name in _plain(saved):
        init_args[name] = saved[name]
    loaded["class_path"], loaded["init_args"], loaded["dict_kwargs"] = _class_path(configured), init_args, {}
    rank_zero_info(
        f"--ckpt_path {path}: a {model_class.__name__} checkpoint, loaded into the configured "
        f"{configured_class.__name__} (a subclass of it)"
    )


def _declares(cls: type, name: str) -> bool:
    """Whether ``cls(...)`` names the parameter ``name`` (not merely accepts it through ``**kwargs``)."""
    import inspect

    try:
        return name in inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return False


def _takes(cls: type, name: str | None) -> bool:
    """Whether ``cls(...)`` takes the keyword ``name`` (None: any keyword, through ``**kwargs``)."""
    import inspect

    try:
        parameters = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(
        parameter.kind is inspect.Parameter.VAR_KEYWORD
        or (parameter.name == name and parameter.kind is not inspect.Parameter.VAR_POSITIONAL)
        for parameter in parameters
    )


def run_version(checkpoint: Path) -> int | None:
    """N for a checkpoint inside ``version_N/checkpoints/``, else None."""
    folder = checkpoint.parent.parent.name
    number = folder.removeprefix("version_")
    return int(number) if folder.startswith("version_") and number.isdigit() else None
