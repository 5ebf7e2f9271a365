"""On-disk formats: MNIST's IDX files, and ``.npy`` arrays written atomically for memory-mapping.

IDX (http://yann.lecun.com/exdb/mnist/): a 4-byte magic ``00 00 <dtype code> <ndim>``, then
``ndim`` big-endian uint32 sizes, then the values, big-endian, row-major. ``.npy`` files keep
their dtype and shape in their own header, so a memory-map needs no side file (nanoGPT's pattern).
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from scaffold.atomic import atomic_path
from scaffold.errors import ScaffoldError

# The IDX type byte -> numpy dtype (big-endian, as the format stores it).
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (optionally ``.gz``) into a native-endian array, checking its header and length."""
    path = Path(path)
    try:
        with gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        raise ScaffoldError(f"{path}: no such file") from None
    except (OSError, EOFError, zlib.error) as exc:  # zlib.error: a corrupt gzip stream
        raise ScaffoldError(f"{path}: cannot read it ({exc}); re-download or re-extract the file") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_DTYPES or raw[3] == 0:
        raise ScaffoldError(
            f"{path}: not an IDX file (magic bytes {raw[:4].hex() or 'missing'}; expected 0000 then a type "
            f"code 08-0e and a dimension count); check the file is the MNIST IDX file it is named after"
        )
    dtype, ndim = IDX_DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ScaffoldError(f"{path}: truncated IDX header ({len(raw)} bytes); re-download the file")
    shape = tuple(int(n) for n in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "longer than its header says"
        raise ScaffoldError(
            f"{path}: {what}: header says shape {shape} ({expected} bytes), file has {len(raw)} bytes; "
            f"re-download the file"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike[str], array: np.ndarray) -> None:
    """Write ``array`` as an IDX file (gzip-compressed if ``path`` ends in ``.gz``), atomically."""
    codes = {dtype.newbyteorder("="): code for code, dtype in IDX_DTYPES.items()}
    array = np.asarray(array)
    code = codes.get(array.dtype.newbyteorder("="))
    if code is None:
        raise ValueError(f"IDX cannot store dtype {array.dtype}")
    payload = (
        bytes([0, 0, code, array.ndim])
        + np.asarray(array.shape, dtype=">u4").tobytes()
        + array.astype(IDX_DTYPES[code]).tobytes()
    )
    with atomic_path(path) as tmp:
        with gzip.open(tmp, "wb") if str(path).endswith(".gz") else open(tmp, "wb") as handle:
            handle.write(payload)


def write_npy(
    path: str | os.PathLike[str],
    shape: tuple[int, ...],
    dtype: np.dtype | type,
    chunks: Iterable[np.ndarray],
    progress: str | None = None,
) -> Path:
    """Write a ``.npy`` file of ``shape``/``dtype`` from row chunks, through a memory map, atomically.

    ``chunks`` yields consecutive blocks of rows that together fill ``shape[0]`` rows. Nothing
    appears at ``path`` until every row is written and flushed, so an interrupted write (even
    ``kill -9``) leaves no file that loads. ``progress`` names a progress bar (shown on a terminal).
    """
    from numpy.lib.format import open_memmap
    from tqdm.auto import tqdm

    path = Path(path)
    with atomic_path(path) as tmp:
        out = open_memmap(tmp, mode="w+", dtype=dtype, shape=shape)
        with tqdm(total=shape[0], desc=progress, unit="rows", disable=None if progress else True) as bar:
            row = 0
            for chunk in chunks:
                out[row : row + len(chunk)] = chunk
                row += len(chunk)
                bar.update(len(chunk))
        if row != shape[0]:
            raise ValueError(f"{path}: chunks gave {row} rows, expected {shape[0]}")
        out.flush()
        del out  # unmap before the rename, so the file is complete and closed
    return path


def npy_header(path: str | os.PathLike[str]) -> tuple[tuple[int, ...], np.dtype]:
    """The shape and dtype stored in a ``.npy`` file's header, checked against the file's size."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            major, _ = np.lib.format.read_magic(handle)
            read_header = (
                np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
            )
            shape, _, dtype = read_header(handle)
            data_start = handle.tell()
    except FileNotFoundError:
        raise ScaffoldError(f"{path}: no such file") from None
    except (OSError, ValueError) as exc:
        raise ScaffoldError(f"{path}: not a readable .npy file ({exc}); recreate it") from None
    if dtype.hasobject:  # pickled Python objects, not numbers: no memory map can read them
        raise ScaffoldError(
            f"{path}: holds Python objects (dtype {dtype}), not numbers; save a numeric array"
        )
    size = path.stat().st_size
    if size < data_start + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize:
        raise ScaffoldError(f"{path}: truncated: header says shape {shape} {dtype}, file has {size} bytes")
    return shape, dtype
