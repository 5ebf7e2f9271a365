"""Bad input through the CLI: one ``error:`` line on stderr, a non-zero exit, no traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
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
        (["--seed_everything=-1"], 2, ["seed_everything must be between 0 and 4294967295", "got -1"]),
        (["--optimizer=Adam", "--optimizer.lr=-1"], 2, ["--optimizer/--lr_scheduler: Invalid learning rate"]),
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


def test_a_config_file_that_is_not_utf8_gives_one_error_line(capsys, tmp_path):
    config = tmp_path / "utf16.yaml"  # what Windows PowerShell's `>` writes
    config.write_text((CONFIGS / "quadratic.yaml").read_text(), encoding="utf-16")
    for args in (["--config", str(config)], [f"-c={config}"]):
        exit_code, stderr = run_main(capsys, "fit", *args)
        assert exit_code == 2
        assert_one_error_line(stderr, f"--config {config}: not UTF-8 text", "save it as UTF-8")


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


@pytest.mark.parametrize("option, code", [("--model.lr=5", 1), ("--model.epsilon=-1", 2)])
def test_debug_flag_shows_the_traceback_behind_the_same_error_line_and_exit_code(
    capsys, tmp_path, option, code
):
    args = ["fit", "--config", str(CONFIGS / "quadratic.yaml"), f"--trainer.default_root_dir={tmp_path}"]
    exit_code, stderr = run_main(capsys, *args, option, "--debug")
    assert exit_code == code
    assert "Traceback (most recent call last)" in stderr
    assert len([line for line in stderr.splitlines() if line.startswith("error: ")]) == 1


def test_a_log_folder_that_cannot_be_made_gives_one_error_line(capsys, tmp_path):
    (tmp_path / "a_file").write_text("")
    args = [
        "fit",
        "--config",
        str(CONFIGS / "quadratic.yaml"),
        f"--trainer.default_root_dir={tmp_path / 'a_file'}",
    ]
    exit_code, stderr = run_main(capsys, *args)
    assert exit_code == 1
    assert_one_error_line(stderr, f"cannot use {tmp_path / 'a_file'}", "Not a directory", "permissions")


def test_a_checkpoint_of_an_unrelated_model_is_refused(capsys, fit_config, tmp_path):
    problem = fit_config("quadratic").trainer.checkpoint_callback.last_model_path
    args = ["test", "--config", str(CONFIGS / "digits.yaml"), f"--trainer.default_root_dir={tmp_path}"]
    code, stderr = run_main(capsys, *args, f"--ckpt_path={problem}")
    assert code == 2
    assert_one_error_line(
        stderr, "a checkpoint of a ParameterProblem, but this config's model is a Classifier"
    )


@pytest.mark.parametrize(
    "content",
    [b"hello\n", b"PK\x03\x04 a truncated zip", "zip", "state dict"],
    ids=[
        "text (torch.load: KeyError)",
        "truncated",
        "a zip of something else",
        "a torch.save of a state dict",
    ],
)
def test_a_ckpt_path_that_is_not_a_checkpoint_gives_one_error_line(capsys, tmp_path, content):
    path = tmp_path / "model.ckpt"
    if content == "state dict":
        torch.save({"weight": torch.zeros(3)}, path)
    elif content == "zip":
        import zipfile

        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("notes.txt", "hello")
    else:
        path.write_bytes(content)
    code, stderr = run_main(capsys, "test", "--config", str(CONFIGS / "digits.yaml"), f"--ckpt_path={path}")
    assert code == 2
    assert_one_error_line(stderr, f"--ckpt_path {path}: not a checkpoint this can read (")


def test_a_ctrl_c_while_the_command_imports_torch_gives_one_line(capsys, monkeypatch):
    import builtins

    import scaffold.__main__ as command

    real_import = builtins.__import__

    def interrupted(name, *args, **kwargs):
        if name == "scaffold.cli":  # the command's first heavy import: torch, Lightning
            raise KeyboardInterrupt
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", interrupted)
    assert command.main() == 130
    assert capsys.readouterr().err == "error: interrupted\n"


def test_importing_scaffold_alone_loads_neither_torch_nor_lightning():
    heavy = "'torch' in sys.modules, 'lightning' in sys.modules"
    code = f"import sys, scaffold; scaffold.ConfigError; print({heavy})"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.stdout.split()[:2] == ["False", "False"], done.stderr


def test_short_class_names_and_subpackages_resolve_with_the_lazy_package(capsys):
    import scaffold

    assert scaffold.models.MLP.__name__ == "MLP" and scaffold.atomic.atomic_path.__name__ == "atomic_path"
    with pytest.raises(SystemExit) as done:
        main(["fit", "--model", "Classifier", "--data", "DataModule", "--print_config"])
    assert done.value.code == 0
    printed = capsys.readouterr().out
    assert "class_path: scaffold.Classifier" in printed
    assert "class_path: scaffold.DataModule" in printed


def test_a_scaffold_error_of_a_spawned_process_becomes_its_one_line():
    from torch.multiprocessing import ProcessRaisedException

    from scaffold.cli_errors import user_error

    text = (
        "\n\n-- Process 1 terminated with the following error:\nTraceback (most recent call last):\n"
        '  File "x.py", line 1, in <module>\n    raise ConfigError("a")\n'
        "scaffold.errors.ConfigError: data.split is wrong: x.npy: see\nthe next line\n"
    )
    error = user_error(ProcessRaisedException(text, error_index=1, error_pid=1))
    assert str(error) == "data.split is wrong: x.npy: see the next line" and error.exit_code == 2
    other = text.replace("scaffold.errors.ConfigError", "ValueError")
    assert user_error(ProcessRaisedException(other, error_index=1, error_pid=1)) is None
    chained = text + (  # a bug while handling the ConfigError ended the process: its traceback stays
        "\nDuring handling of the above exception, another exception occurred:\n\n"
        'Traceback (most recent call last):\n  File "x.py", line 3, in <module>\nValueError: a bug\n'
    )
    assert user_error(ProcessRaisedException(chained, error_index=1, error_pid=1)) is None
