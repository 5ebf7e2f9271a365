"""The seeded random_split (scaffold/data/splits.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scaffold.data import split_indices
from scaffold.errors import ConfigError


def test_70000_rows_split_56000_14000():
    train, val = split_indices(70000, (0.8, 0.2), seed=0)
    assert (len(train), len(val)) == (56000, 14000)
    assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(70000))


def test_same_seed_same_indices_other_seed_different():
    first = split_indices(70000, (0.8, 0.2), seed=0)
    again = split_indices(70000, (0.8, 0.2), seed=0)
    other = split_indices(70000, (0.8, 0.2), seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not np.array_equal(first[1], other[1])
    assert len(np.intersect1d(first[1], other[1])) < 0.3 * 14000  # ~20% overlap by chance, not more


def test_split_ignores_the_global_rng():
    import torch

    torch.manual_seed(123)
    first = split_indices(1000, (0.8, 0.2), seed=5)
    torch.manual_seed(456)
    assert np.array_equal(first[0], split_indices(1000, (0.8, 0.2), seed=5)[0])


def test_three_parts_and_left_out_rows():
    assert [len(p) for p in split_indices(1000, (0.7, 0.2, 0.1), seed=0)] == [700, 200, 100]
    train, val = split_indices(1000, (0.5, 0.1), seed=0)
    assert (len(train), len(val)) == (500, 100) and not np.intersect1d(train, val).size


@settings(max_examples=50, deadline=None)
@given(
    n=st.integers(1, 5000),
    fractions=st.lists(st.floats(0.0, 1.0), min_size=2, max_size=3).filter(
        lambda f: f[0] > 0 and sum(f) <= 1
    ),
    seed=st.integers(0, 2**31),
)
def test_parts_are_disjoint_and_sized_by_their_fractions(n, fractions, seed):
    parts = split_indices(n, fractions, seed)
    rows = np.concatenate(parts)
    assert len(np.unique(rows)) == len(rows) and (rows >= 0).all() and (rows < n).all()
    for part, fraction in zip(parts, fractions, strict=True):
        assert abs(len(part) - n * fraction) <= len(fractions) + 1


@pytest.mark.parametrize(
    "fractions, message",
    [
        ((0.9, -0.1), "must be >= 0"),
        ((0.0, 0.5), "train fraction > 0"),
        ((0.9, 0.3), r"must sum to at most 1, got \[0.9, 0.3\] \(sum 1.2\)"),
        ((1.0,), "needs 2 or 3 fractions"),
        ((0.5, 0.2, 0.1, 0.1), "needs 2 or 3 fractions"),
        ((float("nan"), 0.2), "must be >= 0"),
    ],
)
def test_bad_fractions(fractions, message):
    with pytest.raises(ConfigError, match=message) as error:
        split_indices(100, fractions, seed=0)
    assert str(error.value).startswith("data.split ")
