"""The ``scaffold`` command: LightningCLI with scaffold's defaults and one-line user errors.

``scaffold fit --config configs/quadratic.yaml [--trainer.X=..] [--model.X=..] [--data.X=..]``;
also ``validate``, ``test``, ``predict`` and ``--print_config``, as in any LightningCLI.
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import sys
import traceback
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch import Trainer
from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.strategies.launchers import _MultiProcessingLauncher

# Imported for jsonargparse: it resolves short names (--model Classifier, --data.help DataModule)
# and lists known subclasses only among classes already imported.
import scaffold.data  # noqa: F401
import scaffold.models  # noqa: F401
from scaffold.checkpointing import AtomicCheckpointIO, InterruptReport
from scaffold.cli_errors import OneLineParser, check_config_files, user_error
from scaffold.errors import ConfigError, report
from scaffold.problems.callbacks import ConvergenceStop
from scaffold.resume import merge_checkpoint_settings, resolve_last, run_version
from scaffold.run_folder import new_run_folders, remove_unused_run_folders

# What Lightning needs from a checkpoint file to resume or evaluate from it.
_LIGHTNING_KEYS = {"pytorch-lightning_version", "state_dict"}
_MAX_SEED = 2**32 - 1  # seed_everything seeds numpy too


class ScaffoldCLI(LightningCLI):
    """LightningCLI whose model and data are any LightningModule / LightningDataModule class.

    On top of LightningCLI: an unavailable accelerator is refused up front, checkpoints are
    written atomically, ``--ckpt_path last`` finds the newest ``last.ckpt`` and continues its
    run folder, checkpoints load with ``weights_only=True``, and an interrupt is reported.
    """

    def __init__(self, *args: Any, interrupt_report: InterruptReport | None = None, **kwargs: Any) -> None:
        self.interrupt_report = interrupt_report or InterruptReport()
        self._last_found: Path | None = None  # the file --ckpt_path last named
        super().__init__(*args, **kwargs)

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        """The configured Trainer, with atomic checkpoint writes and the interrupt report."""
        trainer = super().instantiate_trainer(**kwargs)
        if type(trainer.strategy.checkpoint_io) is TorchCheckpointIO:
            trainer.strategy.checkpoint_io = AtomicCheckpointIO()
        trainer.callbacks.append(self.interrupt_report)
        return trainer

    def _set_seed(self) -> None:
        seed = self._get(self.config, "seed_everything")
        if isinstance(seed, int) and not isinstance(seed, bool) and not 0 <= seed <= _MAX_SEED:
            raise ConfigError(
                f"seed_everything must be between 0 and {_MAX_SEED} (numpy's range), got {seed}; "
                "or true for a random seed"
            )
        super()._set_seed()

    def _run_subcommand(self, subcommand: str) -> None:
        created = new_run_folders(self.trainer)  # before anything is written
        try:
            super()._run_subcommand(subcommand)
        except BaseException:
            remove_unused_run_folders(created)  # refused before anything was logged: leave no run
            raise

    def _add_configure_optimizers_method_to_model(self, subcommand: str | None) -> None:
        # LightningCLI builds --optimizer from model.parameters() here, before fit's setup would size
        # a model from its data (the Classifier): with none yet, it would get an empty list.
        config = self.config_init[subcommand] if subcommand else self.config_init
        size_for = getattr(self.model, "size_for", None)
        if config.get("optimizer") is not None and size_for is not None and self.datamodule is not None:
            self.datamodule.setup(subcommand or "fit")
            size_for(self.datamodule)
        try:  # it builds the optimiser and scheduler here: torch's refusals (a negative lr) as one line
            super()._add_configure_optimizers_method_to_model(subcommand)
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                f"--optimizer/--lr_scheduler: {exc}; run with --help (or --print_config) to see the options"
            ) from None

    def _parse_ckpt_path(self) -> None:
        # LightningCLI reads a checkpoint's hyperparameters into the config before anything is built;
        # `last` becomes its file first, so it is read the same way. A file that is not a checkpoint
        # gets one error line, not torch.load's traceback.
        subcommand = self.config.get("subcommand")
        if not subcommand:  # as LightningCLI's own: nothing to read
            return
        config = self.config[subcommand]
        if config.get("ckpt_path") == "best":
            raise ConfigError(
                "--ckpt_path best: only a fit in the same process knows its best checkpoint; give the "
                "checkpoint's path or 'last'"
            )
        if config.get("ckpt_path") == "last":
            self._last_found = resolve_last(config)
            config["ckpt_path"] = str(self._last_found)
        path = config.get("ckpt_path")

        def unreadable(reason: str) -> ConfigError:
            return ConfigError(
                f"--ckpt_path {path}: not a checkpoint this can read ({reason}); give a .ckpt file "
                "that scaffold fit wrote"
            )

        # torch.save writes zip archives; torch.load's errors on other files range from KeyError on.
        if path and Path(path).is_file() and not zipfile.is_zipfile(path):
            raise unreadable("not a zip archive, as torch.save writes")
        configured = config.get("model") if path else None
        try:
            if path and Path(path).is_file():
                # Memory-mapped: only the pickled index is read. Trainer.fit/test need Lightning's keys.
                checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
                if not isinstance(checkpoint, dict) or not _LIGHTNING_KEYS <= checkpoint.keys():
                    raise unreadable("no Lightning checkpoint in it: a torch.save of a model or state dict?")
            super()._parse_ckpt_path()
        except (pickle.UnpicklingError, EOFError, OSError, RuntimeError) as exc:
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise unreadable(first_line) from None
        if configured is not None:
            merge_checkpoint_settings(path, configured, self.config[subcommand].get("model"))

    def before_fit(self) -> None:
        """Refuse what ``steps_per_call`` cannot train with; check ``--ckpt_path``; resume the run's folder.

        The module checks again at fit start, but under ``ddp_spawn`` that runs in the spawned
        processes, where the error would not reach this one as one line.
        """
        check_fused_steps = getattr(self.model, "check_fused_steps", None)
        if check_fused_steps is not None:
            check_fused_steps(self.trainer)
        self._check_checkpoint("fit")

    def before_validate(self) -> None:
        """Check ``--ckpt_path`` for validate."""
        self._check_checkpoint("validate")

    def before_test(self) -> None:
        """Check ``--ckpt_path`` for test."""
        self._check_checkpoint("test")

    def before_predict(self) -> None:
        """Check ``--ckpt_path`` for predict."""
        self._check_checkpoint("predict")

    def _check_checkpoint(self, subcommand: str) -> None:
        config = self.config_init[subcommand]
        logger = self.trainer.logger
        version = run_version(self._last_found) if self._last_found is not None else None
        # TensorBoard appends a new event file to the folder; a CSVLogger would delete its metrics.csv.
        if subcommand == "fit" and version is not None and isinstance(logger, TensorBoardLogger):
            logger._version = version  # continue the interrupted run's folder and event files
        path = config.get("ckpt_path")
        if path and not Path(path).is_file():
            raise ConfigError(f"--ckpt_path {path}: no such file; give a checkpoint file, or 'last'")
        if path and config.get("weights_only") is None:
            config["weights_only"] = True

    def before_instantiate_classes(self) -> None:
        """Refuse an accelerator this machine lacks before anything is built."""
        from scaffold.devices import check_accelerator

        config = self.config.get(self.subcommand, self.config) if self.subcommand else self.config
        check_accelerator(config["trainer"]["accelerator"])

    def after_fit(self) -> None:
        """Print the final parameters of a ParameterProblem, as the chapter prints ``x``."""
        describe = getattr(self.model, "describe", None)
        if describe is None or not self.trainer.is_global_zero:
            return
        if isinstance(getattr(self.trainer.strategy, "launcher", None), _MultiProcessingLauncher):
            # ddp_spawn: the steps ran in the spawned processes; only the weights come back here.
            count = self.trainer.world_size
            where = f"trained in {count} spawned process{'es' if count > 1 else ''}; steps in their logs"
            print(f"final parameters: {describe()} ({where})")
            return
        stop = next((c for c in self.trainer.callbacks if isinstance(c, ConvergenceStop)), None)
        if stop is not None and stop.converged_at is not None:
            why = f"converged: last step {stop.last_step_size:.2g} <= epsilon {stop.epsilon:g}"
        elif stop is None:
            why = "the epsilon rule is off"
        else:
            limit = "max_steps" if 0 <= self.trainer.max_steps <= self.trainer.global_step else "max_epochs"
            why = f"{limit} reached before the epsilon rule stopped it"
        print(f"final parameters: {describe()} after {self.trainer.global_step} steps ({why})")


class _DropLightningChatter(logging.Filter):
    """Drops Lightning's advertising tips (printed on every run)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("💡 Tip")


def build_cli(args: Sequence[str], **kwargs: Any) -> ScaffoldCLI:
    """Parse ``args``, build model, data and trainer, and run the subcommand (tests use this)."""
    # LightningCLI warns when given args while sys.argv also has some; main() passes them on.
    warnings.filterwarnings("ignore", message="LightningCLI's args parameter")
    # Lightning 2.6 on torch 2.13 warns about its own use of a torch API; nothing a user can do.
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    chatter = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if not any(isinstance(f, _DropLightningChatter) for f in chatter.filters):
        chatter.addFilter(_DropLightningChatter())
    return ScaffoldCLI(
        parser_class=OneLineParser,
        subclass_mode_model=True,
        subclass_mode_data=True,
        seed_everything_default=0,
        save_config_kwargs={"overwrite": True},
        args=list(args),
        **kwargs,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the process exit code (0, 1 for failed runs, 2 for bad usage)."""
    debug = os.environ.get("SCAFFOLD_DEBUG") == "1"
    args = list(sys.argv[1:] if argv is None else argv)
    if "--debug" in args:
        args.remove("--debug")
        debug = True
    interrupted = InterruptReport()
    try:
        check_config_files(args)
        build_cli(args, interrupt_report=interrupted)
    except SystemExit:
        # Lightning turns Ctrl-C into sys.exit(1) and SIGTERM into SIGTERMException (a SystemExit)
        # after the checkpoint callbacks have written last.ckpt.
        if interrupted.message is None:
            raise
        print(f"error: {interrupted.message}", file=sys.stderr)
        return interrupted.exit_code
    except Exception as exception:
        error = user_error(exception)
        if error is None:
            raise
        if debug:  # the traceback behind the error line; the exit code stays the error's
            traceback.print_exc()
        return report(error)
    except KeyboardInterrupt:  # before or after training, where Lightning does not catch it
        print("error: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT
    return 0
