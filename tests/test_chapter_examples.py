"""The chapter 1.3 and 1.4 examples print the chapter's result and write their figure."""

from __future__ import annotations

import runpy
import sys

import pytest
from conftest import REPO


def run_example(name: str, *args: str, capsys) -> str:
    argv = sys.argv
    sys.argv = [name, *args]
    try:
        runpy.run_path(str(REPO / "examples" / name), run_name="__main__")
    finally:
        sys.argv = argv
    return capsys.readouterr().out


def test_ch1_3_gradient_descent_prints_2_and_plots(tmp_path, capsys):
    out = run_example("ch1_3_gradient_descent.py", "--out", str(tmp_path), capsys=capsys)
    assert out.splitlines()[0] == "tensor([2.0000])"
    assert "steps: 54" in out
    png = (tmp_path / "ch1_3_f_and_derivative.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000


@pytest.mark.parametrize("name", ["ch1_4_sgd.py", "fit_with_lightning.py"])
def test_60_epochs_of_sgd_print_the_chapters_result(name, capsys):
    out = run_example(name, capsys=capsys)
    assert out.strip().splitlines()[-1] == "tensor([2.0000])"


def test_lightning_example_equals_the_plain_loop():
    sys.path.insert(0, str(REPO / "examples"))
    try:
        import ch1_4_sgd
        import fit_with_lightning
    finally:
        sys.path.remove(str(REPO / "examples"))
    expected = ch1_4_sgd.fit(epochs=60).item()
    assert fit_with_lightning.fit(epochs=60).item() == pytest.approx(expected, abs=1e-7)
