"""Bad input through the CLI: one ``error:`` line on stderr, a non-zero exit, no traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import CONFIGS, REPO

from scaffold.cli import main


def run_main(capsys, *args: str) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().err


def assert_one_error_line(stderr: str, *fragments: str) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, stderr
    assert "Traceback" not in stderr
    for fragment in fragments:
        assert fragment in errors[0]


@pytest.mark.parametrize(
    "override, code, fragments",
    [
        (["--model.foo=1"], 2, ["model", "'foo' is not accepted"]),
        (["--trainer.max_epochs=abc"], 2, ["trainer.max_epochs", "Expected a int", "'abc'"]),
        (["--model.lr=fast"], 2, ['"lr"', "float", "fast"]),
        (["--model.objective=nope"], 2, ["unknown objective 'nope'", "quadratic"]),
        (["--model.init={x: 1, z: 2}"], 2, ["'z'", "does not use", "its parameters are: x"]),
        (["--model.epsilon=-1"], 2, ["model.epsilon must be >= 0"]),
        (["--model.lr=5"], 1, ["diverged at epoch", "(lr=5)", "smaller learning rate"]),
        (["--no_such_option=1"], 2, ["unrecognized arguments"]),
        (["--model.class_path=scaffold.Nope"], 2, ["scaffold.Nope"]),
        (["--trainer.accelerator=tpux"], 2, ["unknown accelerator 'tpux'", "available here: cpu"]),
    ],
)
def test_bad_input_gives_one_error_line(capsys, tmp_path, override, code, fragments):
    args = ["fit", "--config", str(CONFIGS / "quadratic.yaml"), f"--trainer.default_root_dir={tmp_path}"]
    exit_code, stderr = run_main(capsys, *args, *override)
    assert exit_code == code
    assert_one_error_line(stderr, *fragments)


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has a GPU")
def test_gpu_without_one_names_the_available_accelerators(capsys, tmp_path):
    args = ["fit", "--config", str(CONFIGS / "quadratic.yaml"), f"--trainer.default_root_dir={tmp_path}"]
    exit_code, stderr = run_main(capsys, *args, "--trainer.accelerator=gpu")
    assert exit_code == 2
    assert_one_error_line(stderr, "accelerator 'gpu' is not available here", "available: cpu")
    assert not (tmp_path / "lightning_logs").exists()  # refused before anything was written


def test_missing_config_file(capsys, tmp_path):
    exit_code, stderr = run_main(capsys, "fit", "--config", str(tmp_path / "nope.yaml"))
    assert exit_code == 2
    assert_one_error_line(stderr, "nope.yaml")


@pytest.mark.slow
def test_the_console_script_exits_non_zero_without_traceback(tmp_path):
    """A real process: the exit code and stderr a shell user sees."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "scaffold",
            "fit",
            "--config",
            str(CONFIGS / "quadratic.yaml"),
            f"--trainer.default_root_dir={tmp_path}",
            "--model.lr=5",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert result.returncode == 1
    assert_one_error_line(result.stderr, "diverged")


def test_debug_flag_shows_the_traceback(tmp_path):
    from scaffold.errors import DivergenceError

    with pytest.raises(DivergenceError):
        main(
            [
                "fit",
                "--config",
                str(CONFIGS / "quadratic.yaml"),
                f"--trainer.default_root_dir={tmp_path}",
                "--model.lr=5",
                "--debug",
            ]
        )


@pytest.mark.parametrize(
    "content",
    [b"hello\n", b"PK\x03\x04 a truncated zip", "zip"],
    ids=["text (torch.load: KeyError)", "truncated", "a zip of something else"],
)
def test_a_ckpt_path_that_is_not_a_checkpoint_gives_one_error_line(capsys, tmp_path, content):
    path = tmp_path / "model.ckpt"
    if content == "zip":
        import zipfile

        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("notes.txt", "hello")
    else:
        path.write_bytes(content)
    code, stderr = run_main(capsys, "test", "--config", str(CONFIGS / "digits.yaml"), f"--ckpt_path={path}")
    assert code == 2
    assert_one_error_line(stderr, f"--ckpt_path {path}: not a checkpoint this can read (")
