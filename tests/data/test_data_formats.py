"""IDX reading/writing and atomic .npy writes (scaffold/data/formats.py)."""

from __future__ import annotations

import gzip
import signal
import subprocess
import sys

import numpy as np
import pytest

from scaffold.data.formats import npy_header, read_idx, write_idx, write_npy
from scaffold.errors import ScaffoldError


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("name", ["a-idx3-ubyte", "a-idx3-ubyte.gz"])
def test_idx_round_trip(tmp_path, dtype, name):
    array = (np.arange(2 * 3 * 4) - 7).reshape(2, 3, 4).astype(dtype)
    write_idx(tmp_path / name, array)
    back = read_idx(tmp_path / name)
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative
    np.testing.assert_array_equal(back, array)


def test_idx_header_is_big_endian_as_mnist_has_it(tmp_path):
    write_idx(tmp_path / "labels", np.array([7, 2, 1], dtype=np.uint8))
    assert (tmp_path / "labels").read_bytes() == bytes.fromhex("00000801 00000003 070201")


def test_wrong_magic_names_the_file(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(b"PK\x03\x04" + bytes(100))
    with pytest.raises(
        ScaffoldError, match=r"train-images-idx3-ubyte: not an IDX file \(magic bytes 504b0304"
    ):
        read_idx(path)


@pytest.mark.parametrize("cut, what", [(-1, "truncated"), (6, "truncated IDX header")])
def test_truncated_idx_is_refused(tmp_path, cut, what):
    path = tmp_path / "images"
    write_idx(path, np.zeros((3, 4, 4), np.uint8))
    path.write_bytes(path.read_bytes()[:cut])
    with pytest.raises(ScaffoldError, match=f"images: {what}"):
        read_idx(path)


def test_extra_bytes_are_refused(tmp_path):
    path = tmp_path / "labels"
    write_idx(path, np.zeros(3, np.uint8))
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(ScaffoldError, match=r"longer than its header says: header says shape \(3,\)"):
        read_idx(path)


def test_truncated_gzip_is_refused(tmp_path):
    path = tmp_path / "labels.gz"
    path.write_bytes(gzip.compress(bytes.fromhex("00000801 00000400") + bytes(1024))[:-30])
    with pytest.raises(ScaffoldError, match="labels.gz: cannot read it"):
        read_idx(path)


def test_corrupt_gzip_is_refused(tmp_path):
    path = tmp_path / "labels.gz"
    packed = bytearray(gzip.compress(bytes.fromhex("00000801 00000400") + bytes(range(256)) * 4))
    packed[10:30] = bytes(b ^ 0xFF for b in packed[10:30])  # inside the deflate stream: zlib.error
    path.write_bytes(bytes(packed))
    with pytest.raises(ScaffoldError, match="labels.gz: cannot read it"):
        read_idx(path)


def test_missing_idx_file(tmp_path):
    with pytest.raises(ScaffoldError, match="nope: no such file"):
        read_idx(tmp_path / "nope")


def test_write_npy_from_chunks_round_trips(tmp_path):
    array = np.random.default_rng(0).random((10, 3, 2)).astype(np.float32)
    write_npy(tmp_path / "x.npy", array.shape, np.float32, [array[:4], array[4:9], array[9:]])
    loaded = np.load(tmp_path / "x.npy", mmap_mode="r")
    assert loaded.shape == (10, 3, 2) and loaded.dtype == np.float32
    assert loaded.tobytes() == array.tobytes()
    assert npy_header(tmp_path / "x.npy") == ((10, 3, 2), np.dtype(np.float32))


def test_write_npy_failing_half_way_leaves_nothing(tmp_path):
    def chunks():
        yield np.ones((5, 2), np.float32)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_npy(tmp_path / "x.npy", (10, 2), np.float32, chunks())
    assert list(tmp_path.iterdir()) == []


def test_write_npy_with_too_few_rows_leaves_nothing(tmp_path):
    with pytest.raises(ValueError, match="chunks gave 5 rows, expected 10"):
        write_npy(tmp_path / "x.npy", (10, 2), np.float32, [np.ones((5, 2), np.float32)])
    assert list(tmp_path.iterdir()) == []


KILLED_WRITER = """
import sys, time
import numpy as np
from scaffold.data.formats import write_npy

def chunks():
    yield np.ones((1000, 100), np.float32)
    print("half", flush=True)
    time.sleep(60)
    yield np.ones((1000, 100), np.float32)

write_npy(sys.argv[1], (2000, 100), np.float32, chunks())
"""


def test_write_killed_half_way_leaves_no_file_that_loads(tmp_path):
    target = tmp_path / "x.npy"
    writer = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(target)], stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout.readline().strip() == "half"
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=30)
    assert not target.exists()
    leftovers = list(tmp_path.iterdir())
    assert len(leftovers) == 1 and leftovers[0].name.startswith(".x.npy.")  # hidden temp file only
    with pytest.raises(ScaffoldError, match="x.npy: no such file"):
        npy_header(target)


def test_npy_header_rejects_truncated_and_garbage(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((100, 4), np.float32))
    data = (tmp_path / "x.npy").read_bytes()
    (tmp_path / "x.npy").write_bytes(data[:-16])
    with pytest.raises(ScaffoldError, match=r"x.npy: truncated: header says shape \(100, 4\) float32"):
        npy_header(tmp_path / "x.npy")
    (tmp_path / "y.npy").write_bytes(b"not numpy at all")
    with pytest.raises(ScaffoldError, match="y.npy: not a readable .npy file"):
        npy_header(tmp_path / "y.npy")
