"""The chapter 1.5 and exercise 6-7 examples print the expected facts and write their files."""

from __future__ import annotations

import pytest
from test_chapter_examples import run_example

from scaffold.data.synthetic import write_synthetic_mnist


def test_ch1_5_digits(tmp_path, capsys):
    out = run_example("ch1_5_dataset.py", "--out", str(tmp_path), capsys=capsys)
    assert out.splitlines()[:3] == [
        "len(dataset) = 1797",
        "dataset[0]: input (8, 8) torch.float32, label 0 torch.int64",
        "80/20 split: 1438 train rows, 359 test rows",
    ]
    assert (tmp_path / "ch1_5_digits_example.png").read_bytes().startswith(b"\x89PNG")


def test_ch1_5_mnist_from_idx(tmp_path, capsys):
    folder = write_synthetic_mnist(tmp_path / "idx", train=100, test=10)
    out = run_example(
        "ch1_5_dataset.py", "--source", "mnist", "--path", str(folder), "--out", str(tmp_path), capsys=capsys
    )
    assert "len(dataset) = 100" in out and "input (28, 28)" in out and "80 train rows, 20 test rows" in out


def test_exercise6_writes_and_reads_digits_as_libsvm(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = run_example("exercise6_libsvm.py", capsys=capsys)
    assert out.splitlines()[:2] == [
        "wrote data/digits.libsvm",
        "data/digits.libsvm: 1797 rows, 64 features, classes [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]",
    ]
    assert "one batch: inputs (32, 64) torch.float32, targets (32,)" in out


@pytest.mark.parametrize("source", ["digits", "libsvm"])
def test_exercise7_round_trip(tmp_path, capsys, source):
    args = ["--out", str(tmp_path / "mm")]
    if source == "libsvm":
        (tmp_path / "a.svm").write_text("1 1:0.5 3:2\n2 2:1\n1 3:-1\n")
        args += ["--source", "libsvm", "--path", str(tmp_path / "a.svm")]
    out = run_example("exercise7_memmap.py", *args, capsys=capsys).splitlines()
    rows = 1797 if source == "digits" else 3
    assert out[1:] == ["equal to the source bit for bit: True", f"read {rows} rows with 2 worker processes"]
