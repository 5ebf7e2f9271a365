"""A real ``tensorboard`` server reads a finished run: the values a user sees match the run."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest
from conftest import read_scalars

pytestmark = pytest.mark.slow


def start_tensorboard(logdir) -> tuple[subprocess.Popen, str]:
    """Start tensorboard on 127.0.0.1 with an OS-chosen port; return the process and its URL."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tensorboard.main",
            "--logdir",
            str(logdir),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--load_fast",
            "false",
            "--reload_interval",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    seen = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        seen.append(line)
        match = re.search(r"(http://127\.0\.0\.1:\d+)/", line)
        if match:
            return process, match.group(1)
    process.kill()
    raise AssertionError("tensorboard did not start within 60 s:\n" + "".join(seen))


def fetch_json(url: str, deadline_s: float = 30):
    """GET a JSON document, retrying while the server is still loading the run."""
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return json.load(response)
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_tensorboard_serves_the_run_scalars(fit_config, tmp_path):
    cli = fit_config("quadratic", "--trainer.max_epochs=20", "--model.epsilon=0")
    run = "lightning_logs/version_0"
    process, base = start_tensorboard(tmp_path)
    try:
        for tag in ("train/loss", "param/x"):
            query = urllib.parse.urlencode({"run": run, "tag": tag})
            served = fetch_json(f"{base}/data/plugin/scalars/scalars?{query}")
            expected = read_scalars(cli.trainer.log_dir, tag)
            assert [(step, value) for _, step, value in served] == expected
            assert len(served) == 20
    finally:
        process.terminate()
        process.wait(timeout=10)
    x_served = dict((step, value) for step, value in read_scalars(cli.trainer.log_dir, "param/x"))
    assert x_served[0] == -3.5 and x_served[1] == pytest.approx(-2.4)
