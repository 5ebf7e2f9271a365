"""Bad data and data options through `scaffold fit`: one `error:` line, non-zero exit, no traceback."""

from __future__ import annotations

import urllib.error

import numpy as np
import pytest
import sklearn.datasets
from conftest import CONFIGS
from test_cli_errors import assert_one_error_line, run_main

from scaffold.data.formats import write_idx
from scaffold.data.synthetic import write_synthetic_mnist


def fit(capsys, tmp_path, config: str, *options: str) -> tuple[int, str]:
    args = [
        "fit",
        "--config",
        str(CONFIGS / f"{config}.yaml"),
        f"--trainer.default_root_dir={tmp_path / 'logs'}",
    ]
    return run_main(capsys, *args, "--trainer.max_epochs=1", *options)


def mnist_folder(tmp_path):
    return write_synthetic_mnist(tmp_path / "idx", train=20, test=5)


def broken_idx_magic(tmp_path):
    folder = mnist_folder(tmp_path)
    path = folder / "train-labels-idx1-ubyte"
    path.write_bytes(b"\x1f\x8b" + path.read_bytes()[2:])
    return folder


def truncated_idx(tmp_path):
    folder = mnist_folder(tmp_path)
    path = folder / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    return folder


def idx_counts_differ(tmp_path):
    folder = mnist_folder(tmp_path)
    write_idx(folder / "train-labels-idx1-ubyte", np.zeros(19, np.uint8))
    return folder


def memmap_folder(x: np.ndarray, y: np.ndarray, x_test: np.ndarray | None = None, y_test=None):
    def make(tmp_path):
        np.save(tmp_path / "x.npy", x)
        np.save(tmp_path / "y.npy", y)
        if x_test is not None:
            np.save(tmp_path / "x_test.npy", x_test)
            np.save(tmp_path / "y_test.npy", y_test)
        return tmp_path

    return make


def libsvm_file(text: str):
    def make(tmp_path):
        (tmp_path / "data.svm").write_text(text)
        return tmp_path / "data.svm"

    return make


F32, I64 = np.float32, np.int64

CASES = {
    "missing IDX folder": ("mnist", lambda p: p / "nope", ["nope: no such folder"]),
    "missing libsvm file": ("libsvm", lambda p: p / "nope.svm", ["nope.svm: no such file"]),
    "missing memmap folder": ("memmap", lambda p: p / "nope", ["nope: no such folder", "--data.from_source"]),
    "missing memmap file": ("memmap", lambda p: p, ["no x.npy and y.npy in it"]),
    "wrong IDX magic": ("mnist", broken_idx_magic, ["train-labels-idx1-ubyte: not an IDX file", "1f8b0801"]),
    "truncated IDX": ("mnist", truncated_idx, ["t10k-images-idx3-ubyte: truncated", "re-download"]),
    "IDX images and labels differ": ("mnist", idx_counts_differ, ["has 20 images but", "has 19 labels"]),
    "x.npy and y.npy differ": (
        "memmap",
        memmap_folder(np.zeros((5, 2), F32), np.zeros(4, I64)),
        ["has 4 labels"],
    ),
    ".npy unexpected shape": (
        "memmap",
        memmap_folder(np.zeros(5, F32), np.zeros(5, I64)),
        ["x.npy: expected"],
    ),
    ".npy unexpected dtype": (
        "memmap",
        memmap_folder(np.zeros((5, 2), F32), np.zeros(5, F32)),
        ["dtype float32"],
    ),
    "non-integer libsvm labels": (
        "libsvm",
        libsvm_file("1 1:2\n0.5 2:1\n"),
        ["data.svm: label 0.5 on data row 2"],
    ),
    "invalid libsvm file": (
        "libsvm",
        libsvm_file("one 1:2\n"),
        ["data.svm: not a valid libsvm/svmlight file"],
    ),
    "libsvm feature index beyond int32": (
        "libsvm",
        libsvm_file("1 1:0.5\n0 3000000000:0.9\n1 1:0.4\n"),
        ["data.svm: not a valid libsvm/svmlight file"],
    ),
    "object arrays": (
        "memmap",
        memmap_folder(np.array([[1, "a"]] * 4, dtype=object), np.zeros(4, I64)),
        ["x.npy: holds Python objects (dtype object), not numbers"],
    ),
    "negative labels (-1/+1)": (
        "memmap",
        memmap_folder(np.ones((6, 2), F32), np.array([-1, 1] * 3)),
        ["the training labels must be class ids 0, 1, 2, ..., found -1", "-1/+1 -> 0/1"],
    ),
    "test rows shaped unlike the training rows": (
        "memmap",
        memmap_folder(np.ones((6, 3), F32), np.arange(6) % 2, np.ones((4, 5), F32), np.arange(4) % 2),
        ["the test rows have shape (5,) but the training rows (3,)"],
    ),
    "an empty test set": (
        "memmap",
        memmap_folder(np.ones((6, 3), F32), np.arange(6) % 2, np.ones((0, 3), F32), np.zeros(0, I64)),
        ["the test set has no rows"],
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_data_exits_1_with_one_line(capsys, tmp_path, case):
    config, make_path, fragments = CASES[case]
    path = str(make_path(tmp_path))
    # memmap.yaml converts from digits when the folder is missing; here it must not
    no_conversion = ["--data.from_source=null"] if config == "memmap" else []
    code, stderr = fit(capsys, tmp_path, config, "--data.path", path, *no_conversion)
    assert code == 1
    assert_one_error_line(stderr, *fragments)
    assert not list(tmp_path.glob("logs/**/*.ckpt"))
    assert not list(tmp_path.glob("logs/lightning_logs/version_*"))  # no empty run for TensorBoard to list


def test_a_refused_run_removes_only_folders_it_created(capsys, tmp_path):
    mine = tmp_path / "experiment"  # a flat logger layout: the run folder is the user's own
    mine.mkdir()
    (mine / "config.yaml").write_text("the user's notes\n")
    data = memmap_folder(np.ones((6, 2), F32), np.array([-1, 1] * 3))(tmp_path)
    logger = f"{{class_path: TensorBoardLogger, init_args: {{save_dir: {mine}, name: '', version: ''}}}}"
    code, stderr = fit(capsys, tmp_path, "memmap", f"--data.path={data}", "--data.from_source=null")
    assert code == 1 and not (tmp_path / "logs").exists()  # the default run folder and its parents: new
    code, stderr = fit(
        capsys,
        tmp_path,
        "memmap",
        f"--data.path={data}",
        "--data.from_source=null",
        f"--trainer.logger={logger}",
    )
    assert code == 1
    assert_one_error_line(stderr, "found -1")
    assert (mine / "config.yaml").read_text() == "the user's notes\n"


@pytest.mark.parametrize(
    "option, fragment",
    [
        ("--data.split=[0.8, -0.2]", "data.split fractions must be >= 0"),
        ("--data.split=[0.9, 0.3]", "data.split fractions must sum to at most 1, got [0.9, 0.3] (sum 1.2)"),
        ("--data.batch_size=0", "data.batch_size must be >= 1, got 0"),
        (
            "--data.source=csv",
            "Expected a typing.Literal['digits', 'mnist', 'libsvm', 'memmap']. Got value: csv",
        ),
    ],
)
def test_bad_data_options_exit_2_with_one_line(capsys, tmp_path, option, fragment):
    code, stderr = fit(capsys, tmp_path, "digits", option)
    assert code == 2
    assert_one_error_line(stderr, fragment)


def test_mnist_offline_without_cache(capsys, tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(sklearn.datasets, "fetch_openml", offline)
    code, stderr = fit(capsys, tmp_path, "mnist", f"--data.data_home={tmp_path}")
    assert code == 1
    assert_one_error_line(
        stderr, "cannot download mnist_784 from OpenML", "--data.path FOLDER", "--data.source digits"
    )
