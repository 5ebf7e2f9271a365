"""README's bad-input table is executable: every row runs here and must print its message.

Each row of the table between ``<!-- bad-input:begin -->`` and ``<!-- bad-input:end -->`` is
``| `command` | `error: message` | exit code |``. The command runs in-process in a folder that
holds the repository's ``configs/`` and the broken files named below; the printed line must
contain the message's pieces (split at "…") in order, and be the only ``error:`` line.
"""

from __future__ import annotations

import re
import shlex

import numpy as np
import pytest
import torch
from conftest import REPO
from test_cli_errors import assert_one_error_line

from scaffold.cli import main
from scaffold.data.formats import write_idx
from scaffold.data.synthetic import write_synthetic_mnist

ROW = re.compile(r"^\| `(?P<command>[^`]+)` \| `(?P<message>[^`]+)` \| (?P<code>\d) \|$")


def table_rows() -> list[tuple[str, str, int]]:
    text = (REPO / "README.md").read_text()
    table = text.split("<!-- bad-input:begin -->")[1].split("<!-- bad-input:end -->")[0]
    rows = [ROW.match(line) for line in table.splitlines() if line.startswith("| `")]
    assert all(rows), "every row must read | `command` | `error: message` | code |"
    return [(m["command"], m["message"], int(m["code"])) for m in rows]


def write_broken_inputs(folder) -> None:
    """The broken files the table's commands name, each with one thing wrong."""
    mnist = write_synthetic_mnist(folder / "mnist_wrong_magic", train=20, test=5)
    labels = mnist / "train-labels-idx1-ubyte"
    labels.write_bytes(b"\x1f\x8b" + labels.read_bytes()[2:])  # a gzip header where IDX belongs
    mnist = write_synthetic_mnist(folder / "mnist_truncated", train=20, test=5)
    images = mnist / "t10k-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-100])
    mnist = write_synthetic_mnist(folder / "mnist_19_labels", train=20, test=5)
    write_idx(mnist / "train-labels-idx1-ubyte", np.zeros(19, np.uint8))
    for name, x, y in [
        ("npy_lengths_differ", np.zeros((5, 2), np.float32), np.zeros(4, np.int64)),
        ("npy_flat_inputs", np.zeros(5, np.float32), np.zeros(5, np.int64)),
        ("npy_float_labels", np.zeros((5, 2), np.float32), np.zeros(5, np.float32)),
        ("npy_negative_labels", np.zeros((6, 2), np.float32), np.array([-1, 1] * 3)),
    ]:
        (folder / name).mkdir()
        np.save(folder / name / "x.npy", x)
        np.save(folder / name / "y.npy", y)
    (folder / "half_labels.svm").write_text("1 1:2\n0.5 2:1\n")
    (folder / "not_libsvm.txt").write_text("one 1:2\n")
    (folder / "notes.ckpt").write_text("not a checkpoint\n")
    torch.save({"weight": torch.zeros(3)}, folder / "weights.pt")
    (folder / "utf16.yaml").write_text((REPO / "configs" / "quadratic.yaml").read_text(), encoding="utf-16")


ROWS = table_rows()


def test_the_table_covers_every_kind_of_input():
    commands = " ".join(command for command, _, _ in ROWS)
    for kind in (
        "--config",
        "--model.",
        "--trainer.accelerator",
        "--data.",
        "objective",
        "npy_",
        ".svm",
        "mnist_",
    ):
        assert kind in commands, kind
    assert len(ROWS) >= 25


@pytest.mark.parametrize("command, message, code", ROWS, ids=[command for command, _, _ in ROWS])
def test_each_row(command, message, code, tmp_path, monkeypatch, capsys):
    if "accelerator=gpu" in command and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    (tmp_path / "configs").symlink_to(REPO / "configs")
    write_broken_inputs(tmp_path)
    monkeypatch.chdir(tmp_path)
    argv = shlex.split(command)
    assert argv[0] == "scaffold"
    assert main(argv[1:]) == code
    stderr = capsys.readouterr().err
    assert_one_error_line(stderr)
    line = next(line for line in stderr.splitlines() if line.startswith("error: "))
    position = 0
    for piece in message.split("…"):
        found = line.find(piece.strip(), position)
        assert found >= 0, f"{piece.strip()!r} not in {line!r}"
        position = found + len(piece.strip())
