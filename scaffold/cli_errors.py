"""How the ``scaffold`` command turns bad input into one ``error:`` line: parser errors, wrapped
causes, and config files it cannot read."""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from pathlib import Path

from lightning.pytorch.cli import LightningArgumentParser

from scaffold.errors import ConfigError, ScaffoldError


class OneLineParser(LightningArgumentParser):
    """Turns jsonargparse's usage-and-error text into a ConfigError (one line, exit code 2)."""

    def error(self, message: str, ex: Exception | None = None) -> None:  # type: ignore[override]
        if not self.exit_on_error:  # a nested parser: jsonargparse handles this one itself
            super().error(message, ex)
        raise ConfigError(condense_parser_error(message))


_NOISE = ("Does not validate against", "Subtypes:", "Errors:", "Given value type:", "tip:")


def condense_parser_error(message: str) -> str:
    """jsonargparse's multi-line report as one line: the key, the real reason, the value given.

    Drops the Union bookkeeping (``Expected a <class 'NoneType'>``, subtype lists) that says
    nothing to a user, and adds where to look for valid options.
    """
    key = re.match(r'\s*Parser key "([^"]+)":', message)
    body = message[key.end() :] if key else message
    reasons, given = [], ""
    for line in body.splitlines():
        line = line.strip().removeprefix("- ").strip()
        if not line or line.startswith(_NOISE) or line == "Expected a <class 'NoneType'>":
            continue
        if line.startswith("Given value:"):
            given = line.removeprefix("Given value:").strip()
            continue
        line = re.sub(r"Problem with given class_path '([^']+)':", r"\1:", line)
        reasons.append(re.sub(r"<class '(?:[\w.]+\.)?(\w+)'>", r"\1", line))
    text = " ".join(reasons) or "invalid arguments"
    if given and "NestedArg" not in given and given not in text:
        text += f" (got {given!r})"
    where = f"{key.group(1)}: " if key else ""
    return f"{where}{text}; run with --help (or --print_config) to see the accepted options"


def user_error(exception: BaseException) -> ScaffoldError | None:
    """The user-facing error behind ``exception``, if any, looking through wrapped causes.

    jsonargparse wraps errors raised while instantiating the model or data in its own
    ValueError, and Lightning reports bad Trainer settings as MisconfigurationException.
    """
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    if isinstance(exception, OSError) and exception.filename:  # a folder that cannot be made or written
        return ScaffoldError(
            f"cannot use {exception.filename}: {exception.strerror or exception}; check that path and its "
            "permissions (or run with --debug for the traceback)"
        )
    seen: BaseException | None = exception
    while seen is not None:
        if isinstance(seen, ScaffoldError):
            return seen
        if (spawned := _spawned_error(seen)) is not None:
            return spawned
        if isinstance(seen, MisconfigurationException):
            return ConfigError(str(seen).strip().splitlines()[0])
        if isinstance(seen, RuntimeError) and str(seen).startswith("Error(s) in loading state_dict"):
            return ConfigError(
                f"the checkpoint does not fit this model ({str(seen).splitlines()[0]}); "
                "give --ckpt_path a checkpoint of the same config"
            )
        seen = seen.__cause__ or seen.__context__
    return None


# The line of traceback text naming the exception that ended a process: "module.Class: message".
_RAISED = re.compile(r"^(?P<cls>[A-Za-z_][\w.]*\.[A-Za-z_]\w*): (?P<message>.*)$")


def _spawned_error(exception: BaseException) -> ScaffoldError | None:
    """A ScaffoldError that ended a process ``ddp_spawn`` started: it reaches this one as traceback text.

    The last traceback's frames are indented; the line after them names the exception, and the
    lines after that continue its message. An earlier (chained) exception does not count.
    """
    from torch.multiprocessing import ProcessRaisedException

    if not isinstance(exception, ProcessRaisedException):
        return None
    lines = str(exception).splitlines()
    starts = [
        index for index, line in enumerate(lines) if line.startswith("Traceback (most recent call last)")
    ]
    if not starts:
        return None
    index = starts[-1] + 1
    while index < len(lines) and (not lines[index].strip() or lines[index].startswith(" ")):
        index += 1  # the frames
    found = _RAISED.match(lines[index]) if index < len(lines) else None
    if found is None:
        return None
    module, _, name = found["cls"].rpartition(".")
    cls = getattr(sys.modules.get(module), name, None)
    if not (isinstance(cls, type) and issubclass(cls, ScaffoldError)):
        return None
    rest = [line.strip() for line in lines[index + 1 :] if line.strip()]
    return ScaffoldError(" ".join([found["message"], *rest]), exit_code=cls.exit_code)


def check_config_files(args: Sequence[str]) -> None:
    """Refuse a ``--config`` file that is not UTF-8 text (PowerShell's ``>`` writes UTF-16), in one line."""
    for index, arg in enumerate(args):
        if arg in ("--config", "-c") and index + 1 < len(args):
            path = Path(args[index + 1])
        elif arg.startswith(("--config=", "-c=")):
            path = Path(arg.partition("=")[2])
        else:
            continue
        try:
            path.read_bytes().decode("utf-8")
        except OSError:
            continue  # missing or unreadable: the parser's own message names it
        except UnicodeDecodeError as exc:
            raise ConfigError(
                f"--config {path}: not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8"
            ) from None
