"""SIGTERM / Ctrl-C during a real `scaffold fit` write last.ckpt; resuming ends where an
uninterrupted run ends, with the same logged series."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest
import torch
from conftest import REPO, read_scalars, scaffold_command

pytestmark = pytest.mark.slow

STEPS = 1500
# momentum gives the optimiser a state of its own, so resuming must restore more than x and y
PROBLEM = ["--model.epsilon=0", "--model.momentum=0.5", "--model.lr=0.01", f"--trainer.max_epochs={STEPS}"]


def scaffold_fit(root, *extra: str) -> list[str]:
    return scaffold_command("two_variable", root, *PROBLEM, *extra)


def interrupt_mid_run(command: list[str], signum: int, run_dir) -> subprocess.CompletedProcess:
    """Start ``command``, wait until it is training, send ``signum``, and wait for it to exit."""
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 90
    while not list(run_dir.glob("events.out.tfevents.*")):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run did not start logging within 90 s"
        time.sleep(0.1)
    time.sleep(1.0)  # some hundreds of steps into the run
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=60)
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_interrupted_then_resumed_run_equals_an_uninterrupted_one(fit_config, tmp_path, signum):
    reference = fit_config("two_variable", *PROBLEM)
    expected = reference.model.values()
    expected_x = dict(read_scalars(reference.trainer.log_dir, "param/x"))

    root = tmp_path / "interrupted"
    run_dir = root / "lightning_logs" / "version_0"
    stopped = interrupt_mid_run(scaffold_fit(root), signum, run_dir)
    assert stopped.returncode == 128 + signum, stopped.stderr
    errors = [line for line in stopped.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in stopped.stderr
    assert f"checkpoint saved to {run_dir / 'checkpoints' / 'last.ckpt'}" in errors[0]
    assert "--ckpt_path last" in errors[0]
    saved = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert 0 < saved["global_step"] < STEPS

    resumed = subprocess.run(
        scaffold_fit(root, "--ckpt_path=last"), cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr
    final = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert final["global_step"] == STEPS
    for name, value in expected.items():
        assert torch.equal(final["state_dict"][f"params.{name}"], value), name
    logged_x = dict(read_scalars(run_dir, "param/x"))  # both runs' event files, one folder
    assert logged_x == expected_x
    assert not (root / "lightning_logs" / "version_1").exists()
