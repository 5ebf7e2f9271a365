"""digits, MNIST from IDX files or OpenML (cached), and memmap folders (scaffold/data/sources.py)."""

from __future__ import annotations

import urllib.error

import numpy as np
import pytest
import sklearn.datasets
import torch

from scaffold.data import sources
from scaffold.data.formats import read_idx, write_idx
from scaffold.data.synthetic import write_synthetic_mnist
from scaffold.errors import ScaffoldError


def test_digits_is_the_offline_default():
    train = sources.digits().train
    inputs, labels = train.__getitems__(range(len(train)))
    assert len(train) == 1797 and train.feature_shape == (8, 8)
    assert inputs.min() == 0 and inputs.max() == 1
    assert sorted(labels.unique().tolist()) == list(range(10))


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_idx_folder(tmp_path, gz):
    write_synthetic_mnist(tmp_path, train=30, test=7, gz=gz)
    source = sources.mnist_idx(tmp_path)
    assert (len(source.train), len(source.test)) == (30, 7)
    assert source.train.feature_shape == (28, 28)
    raw = read_idx(tmp_path / ("train-images-idx3-ubyte" + (".gz" if gz else "")))
    inputs, labels = source.train.__getitems__(range(30))
    assert torch.equal(inputs, torch.from_numpy(raw.astype(np.float32) / 255))
    assert labels.dtype == torch.int64 and 0 <= labels.min() and labels.max() <= 9


def test_mnist_idx_missing_folder_and_file(tmp_path):
    with pytest.raises(ScaffoldError, match="nope: no such folder; set --data.path to a folder holding"):
        sources.mnist_idx(tmp_path / "nope")
    write_synthetic_mnist(tmp_path, train=5, test=5)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(
        ScaffoldError, match=r"has no t10k-labels-idx1-ubyte \(nor t10k-labels-idx1-ubyte.gz\)"
    ):
        sources.mnist_idx(tmp_path)


def test_mnist_idx_labels_in_place_of_images(tmp_path):
    write_synthetic_mnist(tmp_path, train=5, test=5)
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros(5, np.uint8))
    with pytest.raises(
        ScaffoldError, match="train-images-idx3-ubyte: wrong IDX magic.* expected magic 00000803"
    ):
        sources.mnist_idx(tmp_path)


def test_mnist_idx_counts_must_agree(tmp_path):
    write_synthetic_mnist(tmp_path, train=5, test=5)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(4, np.uint8))
    with pytest.raises(ScaffoldError, match="has 5 images but train-labels-idx1-ubyte has 4 labels"):
        sources.mnist_idx(tmp_path)


@pytest.fixture
def fake_openml(monkeypatch):
    """fetch_openml returning a small mnist_784 look-alike: float64 pixels 0-255, string labels."""
    monkeypatch.setattr(sources, "MNIST_ROWS", {"train": 60, "test": 10})
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (70, 784)).astype(np.float64)
    y = rng.integers(0, 10, 70).astype(str).astype(object)
    calls = []

    def fetch_openml(name, **kwargs):
        calls.append((name, kwargs))
        return X, y

    monkeypatch.setattr(sklearn.datasets, "fetch_openml", fetch_openml)
    return X, y, calls


def test_openml_mnist_is_parsed_and_cached(tmp_path, fake_openml, monkeypatch):
    X, y, calls = fake_openml
    source = sources.mnist_openml(tmp_path)
    name, kwargs = calls[0]
    assert name == "mnist_784" and kwargs["version"] == 1 and kwargs["as_frame"] is False
    assert kwargs["parser"] == "liac-arff" and kwargs["data_home"] == tmp_path
    assert (len(source.train), len(source.test)) == (60, 10)
    inputs, labels = source.test.__getitems__(range(10))
    assert torch.equal(inputs, torch.from_numpy((X[60:].reshape(-1, 28, 28) / 255).astype(np.float32)))
    assert labels.tolist() == [int(label) for label in y[60:]]
    assert sorted(p.name for p in (tmp_path / "scaffold_mnist_784").iterdir()) == [
        "x.npy",
        "x_test.npy",
        "y.npy",
        "y_test.npy",
    ]

    monkeypatch.setattr(sklearn.datasets, "fetch_openml", lambda *a, **k: pytest.fail("cache not used"))
    again = sources.mnist_openml(tmp_path)
    assert torch.equal(again.test.__getitems__(range(10))[0], inputs)


def test_openml_cache_honours_scikit_learn_data(tmp_path, fake_openml, monkeypatch):
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path / "skdata"))
    sources.mnist_openml()
    assert (tmp_path / "skdata" / "scaffold_mnist_784" / "x.npy").is_file()


def test_offline_without_cache_says_what_to_do(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(sklearn.datasets, "fetch_openml", offline)
    with pytest.raises(ScaffoldError) as error:
        sources.mnist_openml(tmp_path)
    message = str(error.value)
    assert "cannot download mnist_784 from OpenML (" in message and "name resolution" in message
    assert "--data.path FOLDER" in message and "--data.source digits" in message
    assert not (tmp_path / "scaffold_mnist_784" / "x.npy").exists()


def test_memmap_folder_round_trip_is_bit_for_bit(tmp_path):
    write_synthetic_mnist(tmp_path / "idx", train=40, test=9)
    source = sources.mnist_idx(tmp_path / "idx")
    sources.write_arrays(tmp_path / "mm", source)
    back = sources.read_arrays(tmp_path / "mm")
    for original, copy in ((source.train, back.train), (source.test, back.test)):
        rows = np.arange(len(original))
        for want, got in zip(original.__getitems__(rows), copy.__getitems__(rows), strict=True):
            assert want.dtype == got.dtype and want.numpy().tobytes() == got.numpy().tobytes()


def test_memmap_folder_from_libsvm_densifies(tmp_path):
    (tmp_path / "a.svm").write_text("3 1:0.5 4:2\n7 2:1\n3 3:-1\n")
    sources.write_arrays(tmp_path / "mm", sources.libsvm(tmp_path / "a.svm"))
    back = sources.read_arrays(tmp_path / "mm")
    assert back.test is None and not (tmp_path / "mm" / "x_test.npy").exists()
    inputs, labels = back.train.__getitems__([0, 1, 2])
    assert inputs.tolist() == [[0.5, 0, 0, 2], [0, 1, 0, 0], [0, 0, -1, 0]] and labels.tolist() == [0, 1, 0]


def test_missing_memmap_folder(tmp_path):
    with pytest.raises(ScaffoldError, match="mm: no such folder; create it with --data.from_source"):
        sources.read_arrays(tmp_path / "mm")
    (tmp_path / "mm").mkdir()
    with pytest.raises(ScaffoldError, match="mm: no x.npy and y.npy in it"):
        sources.read_arrays(tmp_path / "mm")
