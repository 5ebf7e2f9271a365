"""Devices: the chapter's ``moveTo``, choosing a torch device, and checking accelerator names.

Chapter 1.2.1 of *Inside Deep Learning*: tensors live on a device, and work only happens where
the data is, so everything a computation needs must be moved there first (``move_to``).

Example::

    from scaffold.devices import choose_device, move_to

    device = choose_device("auto")  # CUDA, else Apple MPS, else CPU
    batch = move_to({"x": torch.rand(4, 2), "y": [torch.tensor(1), "label"]}, device)
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, TypeVar

import torch

from scaffold.errors import ConfigError

if TYPE_CHECKING:
    from lightning.pytorch.accelerators import Accelerator

T = TypeVar("T")

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def move_to(obj: T, device: torch.device | str) -> T:
    """The chapter's ``moveTo``: ``obj`` with every tensor (or anything with ``.to``) on ``device``.

    Recurses into lists, tuples (namedtuples rebuilt as the same type; a tuple type with its own
    ``.to``, such as ``PackedSequence``, moves itself), sets, frozensets and dicts
    (keys as well as values, so a tensor used as a key is moved too) and returns the same container
    types; anything else that has a ``.to`` method is moved with it (an ``nn.Module`` is moved in place,
    as ``Module.to`` does); every other object is returned as it is.
    """
    if isinstance(obj, list):
        return _refill(obj, [move_to(item, device) for item in obj])
    if isinstance(obj, tuple):
        if callable(getattr(obj, "to", None)):  # moves itself (PackedSequence: batch_sizes stay on the CPU)
            return obj.to(device)
        items = [move_to(item, device) for item in obj]
        # A namedtuple's constructor takes its fields as arguments, not one iterable.
        return obj._make(items) if hasattr(obj, "_make") else type(obj)(items)
    if isinstance(obj, (set, frozenset)):
        items = {move_to(item, device) for item in obj}
        return type(obj)(items) if isinstance(obj, frozenset) else _refill(obj, items)
    if isinstance(obj, dict):
        return _refill(obj, {move_to(key, device): move_to(value, device) for key, value in obj.items()})
    to = getattr(obj, "to", None)
    if callable(to):
        return to(device)
    return obj


def _refill(container: Any, items: Any) -> Any:
    # A shallow copy keeps the exact type and its state (a defaultdict's factory, a subclass's
    # attributes); only the contents are swapped for the moved ones.
    if type(container) in (list, set, dict):
        return items
    out = copy.copy(container)
    out.clear()
    if isinstance(out, list):
        out.extend(items)
    else:
        out.update(items)
    return out


def choose_device(name: str = "auto") -> torch.device:
    """The torch device for ``name``: ``auto`` picks CUDA, then Apple MPS, then the CPU.

    ``cpu``, ``cuda`` (or ``cuda:<index>``) and ``mps`` ask for that device; one that this machine
    lacks raises :class:`~scaffold.errors.ConfigError` with a one-line message.
    """
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r}; choose one of: {', '.join(DEVICE_CHOICES)}") from None
    if device.type not in DEVICE_CHOICES:
        raise ConfigError(f"unknown device {name!r}; choose one of: {', '.join(DEVICE_CHOICES)}")
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ConfigError(f"device {name!r} asked for, but CUDA is not available here; {_device_hint()}")
        if device.index is not None and device.index >= count:
            raise ConfigError(f"device {name!r} asked for, but this machine has {count} CUDA device(s)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"device {name!r} asked for, but Apple MPS is not available here; {_device_hint()}")
    return device


def _device_hint() -> str:
    usable = ["cpu"] + (["mps"] if torch.backends.mps.is_available() else [])
    return f"available devices: {', '.join(usable)} (or auto)"


def available_accelerators() -> list[str]:
    """Lightning accelerator names that would work here, e.g. ``["cpu"]`` or ``["cpu", "cuda", "gpu"]``.

    Asks Lightning's own accelerator classes, so the answer agrees with what ``Trainer`` accepts;
    ``gpu`` is listed when CUDA or MPS is (Lightning maps it to whichever is present).
    """
    from lightning.pytorch.accelerators import AcceleratorRegistry

    names = sorted(AcceleratorRegistry.available_accelerators(), key=_accelerator_order)
    available = [name for name in names if AcceleratorRegistry[name]["accelerator"].is_available()]
    if "cuda" in available or "mps" in available:
        available.append("gpu")
    return available


def _accelerator_order(name: str) -> tuple[int, str]:
    known = ("cpu", "cuda", "mps", "tpu")
    return (known.index(name) if name in known else len(known), name)


def check_accelerator(accelerator: str | Accelerator) -> None:
    """Raise :class:`~scaffold.errors.ConfigError` unless ``--trainer.accelerator`` can run here.

    ``auto`` and accelerator instances always pass (Lightning resolves and checks them). An unknown
    name, or a known one this machine lacks (``gpu`` without CUDA or MPS), gives one line that names
    the accelerators that are available.
    """
    if not isinstance(accelerator, str) or accelerator == "auto":
        return
    from lightning.pytorch.accelerators import AcceleratorRegistry

    available = available_accelerators()
    choices = ", ".join(available + ["auto"])
    known = set(AcceleratorRegistry.available_accelerators()) | {"auto", "gpu"}
    if accelerator not in known:
        names = ", ".join(sorted(known))
        raise ConfigError(f"unknown accelerator {accelerator!r} (known: {names}); available here: {choices}")
    if accelerator not in available:
        raise ConfigError(f"accelerator {accelerator!r} is not available here; available: {choices}")
