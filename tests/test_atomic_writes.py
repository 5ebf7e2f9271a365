"""A writer killed with SIGKILL mid-write leaves the old complete file, never a torn one."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch

from scaffold.atomic import atomic_path

pytestmark = pytest.mark.slow

# Rewrites the same checkpoint forever, each version a 64 MiB tensor filled with its number, and
# says which version is complete; the parent kills it while a later version is being written.
CHECKPOINT_WRITER = textwrap.dedent(
    """
    import sys, torch
    from scaffold.checkpointing import AtomicCheckpointIO
    io = AtomicCheckpointIO()
    version = 0
    while True:
        version += 1
        io.save_checkpoint({"version": version, "w": torch.full((16 << 20,), float(version))}, sys.argv[1])
        print(version, flush=True)
    """
)


def kill_mid_write(script: str, target) -> int:
    """Run ``script`` until it reports two complete versions, SIGKILL it; the last complete one."""
    process = subprocess.Popen([sys.executable, "-c", script, str(target)], stdout=subprocess.PIPE, text=True)
    try:
        complete = [int(process.stdout.readline()), int(process.stdout.readline())]
    finally:
        process.kill()  # SIGKILL: no handler, no cleanup; the next version is mid-write
        process.wait(timeout=30)
    return complete[-1]


def test_sigkilled_checkpoint_writer_leaves_a_complete_checkpoint(tmp_path):
    target = tmp_path / "last.ckpt"
    reported = kill_mid_write(CHECKPOINT_WRITER, target)
    checkpoint = torch.load(target, weights_only=True)
    version = checkpoint["version"]
    assert version in (reported, reported + 1)  # the kill may land just after a rename
    assert torch.equal(checkpoint["w"], torch.full((16 << 20,), float(version)))
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == ["last.ckpt"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "table.csv"
    target.write_text("old\n")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half of the new")
        raise RuntimeError("disk full")
    assert target.read_text() == "old\n"
    assert list(tmp_path.iterdir()) == [target]
