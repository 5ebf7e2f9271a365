"""move_to over nested containers, device choice, and accelerator checks (scaffold.devices)."""

from __future__ import annotations

from collections import OrderedDict, defaultdict, namedtuple

import pytest
import torch
from lightning.pytorch.accelerators import CUDAAccelerator, MPSAccelerator

from scaffold.devices import available_accelerators, check_accelerator, choose_device, move_to
from scaffold.errors import ConfigError

Batch = namedtuple("Batch", ["inputs", "labels"])


class Recorder:
    """Anything with a ``.to``: records the device it was sent to and returns a new marker."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls: list[object] = []

    def to(self, device: object) -> tuple[str, object]:
        self.calls.append(device)
        return ("moved", self.name, device)


def on_meta(tensor: object) -> bool:
    return isinstance(tensor, torch.Tensor) and tensor.device.type == "meta"


def test_move_to_recurses_through_nested_containers() -> None:
    # "meta" is a real second device on every machine: .to("meta") makes a new tensor there.
    inner = Recorder("inner")
    obj = {
        "list": [torch.ones(2), (torch.zeros(1), {torch.tensor(3)})],
        "deep": {"a": [[{"b": inner}]]},
        "text": "label",
        "number": 7,
        "none": None,
    }
    moved = move_to(obj, "meta")
    assert type(moved) is dict and list(moved) == list(obj)
    assert type(moved["list"]) is list and on_meta(moved["list"][0])
    first, rest = moved["list"][1]
    assert type(moved["list"][1]) is tuple and on_meta(first)
    assert type(rest) is set and all(on_meta(t) for t in rest) and len(rest) == 1
    assert moved["deep"]["a"][0][0]["b"] == ("moved", "inner", "meta")
    assert inner.calls == ["meta"]
    assert moved["text"] == "label" and moved["number"] == 7 and moved["none"] is None
    assert obj["list"][0].device.type == "cpu", "the input must be left untouched"


def test_move_to_moves_tensor_dict_keys_and_values() -> None:
    key, value = torch.tensor([1.0]), torch.tensor([2.0])
    moved = move_to({key: value, "plain": value}, "meta")
    tensor_keys = [k for k in moved if isinstance(k, torch.Tensor)]
    assert len(moved) == 2 and len(tensor_keys) == 1
    assert on_meta(tensor_keys[0]) and on_meta(moved[tensor_keys[0]]) and on_meta(moved["plain"])


def test_move_to_rebuilds_a_namedtuple_as_the_same_type() -> None:
    batch = Batch(inputs=torch.rand(2, 3), labels=[torch.tensor(0), Recorder("label")])
    moved = move_to(batch, "meta")
    assert type(moved) is Batch
    assert on_meta(moved.inputs) and moved.inputs.shape == (2, 3)
    assert on_meta(moved.labels[0]) and moved.labels[1] == ("moved", "label", "meta")


def test_move_to_keeps_container_subclasses() -> None:
    counts = defaultdict(list, {"x": [torch.ones(1)]})
    ordered = OrderedDict([("b", torch.ones(1)), ("a", torch.zeros(1))])
    moved_counts, moved_ordered, moved_frozen, size = move_to(
        (counts, ordered, frozenset({torch.ones(1)}), torch.Size([2, 3])), "meta"
    )
    assert type(moved_counts) is defaultdict and moved_counts.default_factory is list
    assert on_meta(moved_counts["x"][0])
    assert type(moved_ordered) is OrderedDict and list(moved_ordered) == ["b", "a"]
    assert type(moved_frozen) is frozenset and all(on_meta(t) for t in moved_frozen)
    assert type(size) is torch.Size and size == (2, 3)


def test_move_to_same_device_keeps_tensors_and_types() -> None:
    # Tensor.to returns the tensor itself when nothing changes; move_to must not copy it.
    tensor = torch.arange(3)
    moved = move_to([tensor, (tensor,), {"t": tensor}], torch.device("cpu"))
    assert moved[0] is tensor and moved[1][0] is tensor and moved[2]["t"] is tensor
    assert [type(m) for m in moved] == [torch.Tensor, tuple, dict]


def test_move_to_lets_a_tuple_type_with_its_own_to_move_itself() -> None:
    from torch.nn.utils.rnn import pack_padded_sequence

    packed = pack_padded_sequence(torch.ones(2, 3, 4), torch.tensor([3, 2]), batch_first=True)
    moved = move_to({"packed": packed}, "meta")["packed"]
    assert type(moved) is type(packed) and moved.data.device.type == "meta"
    assert moved.batch_sizes.device.type == "cpu"  # as PackedSequence.to keeps it


def test_move_to_moves_modules_and_ignores_non_callable_to() -> None:
    class Address:
        to = "someone@example.com"  # an attribute called "to" that is not a method

    module = torch.nn.Linear(2, 2)
    address = Address()
    moved_module, moved_address = move_to([module, address], "meta")
    assert moved_module is module and module.weight.device.type == "meta"
    assert moved_address is address


@pytest.fixture
def no_gpu(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """A machine without CUDA or MPS, for torch's and Lightning's checks alike."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.setattr(CUDAAccelerator, "is_available", staticmethod(lambda: False))
    monkeypatch.setattr(MPSAccelerator, "is_available", staticmethod(lambda: False))
    return monkeypatch


def test_choose_device_auto_prefers_cuda_then_mps_then_cpu(no_gpu: pytest.MonkeyPatch) -> None:
    assert choose_device("auto") == torch.device("cpu")
    no_gpu.setattr(torch.backends.mps, "is_available", lambda: True)
    assert choose_device("auto") == torch.device("mps")
    no_gpu.setattr(torch.cuda, "is_available", lambda: True)
    assert choose_device("auto") == torch.device("cuda")


def test_choose_device_explicit(no_gpu: pytest.MonkeyPatch) -> None:
    assert choose_device("cpu") == torch.device("cpu")
    with pytest.raises(ConfigError, match=r"^device 'cuda' asked for, but CUDA is not available") as info:
        choose_device("cuda")
    assert info.value.exit_code == 2 and "\n" not in str(info.value)
    assert "available devices: cpu" in str(info.value)
    with pytest.raises(ConfigError, match="Apple MPS is not available"):
        choose_device("mps")
    with pytest.raises(ConfigError, match=r"unknown device 'tpu7'; choose one of: auto, cpu, cuda, mps"):
        choose_device("tpu7")
    no_gpu.setattr(torch.cuda, "is_available", lambda: True)
    no_gpu.setattr(torch.cuda, "device_count", lambda: 1)
    assert choose_device("cuda:0") == torch.device("cuda", 0)
    with pytest.raises(ConfigError, match=r"'cuda:1' asked for, but this machine has 1 CUDA device"):
        choose_device("cuda:1")


def test_available_accelerators(no_gpu: pytest.MonkeyPatch) -> None:
    assert available_accelerators() == ["cpu"]
    no_gpu.setattr(CUDAAccelerator, "is_available", staticmethod(lambda: True))
    assert available_accelerators() == ["cpu", "cuda", "gpu"]


def test_check_accelerator_without_gpu(no_gpu: pytest.MonkeyPatch) -> None:
    for ok in ("cpu", "auto"):
        check_accelerator(ok)
    for missing in ("gpu", "cuda", "mps"):
        with pytest.raises(ConfigError) as info:
            check_accelerator(missing)
        assert str(info.value) == f"accelerator '{missing}' is not available here; available: cpu, auto"
        assert info.value.exit_code == 2
    with pytest.raises(ConfigError, match=r"unknown accelerator 'GPU' \(known: auto, cpu, cuda, gpu, mps"):
        check_accelerator("GPU")


def test_check_accelerator_with_cuda(no_gpu: pytest.MonkeyPatch) -> None:
    no_gpu.setattr(CUDAAccelerator, "is_available", staticmethod(lambda: True))
    for ok in ("gpu", "cuda", "cpu"):
        check_accelerator(ok)
    with pytest.raises(ConfigError, match=r"'mps' is not available here; available: cpu, cuda, gpu, auto$"):
        check_accelerator("mps")
