"""Sweep errors have their own base class, and the `sweep` CLI prints them as one line with their exit code."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from sweep.cli.options import SweepErrorGroup
from sweep.errors import NothingToPromoteError, StorageError, StudyNotFoundError, SweepError
from trainer.errors import TrainerError


@pytest.mark.parametrize("error_class", [StorageError, StudyNotFoundError, NothingToPromoteError])
def test_sweep_errors_are_not_trainer_errors(error_class: type[SweepError]) -> None:
    assert issubclass(error_class, SweepError) and not issubclass(error_class, TrainerError)
    assert error_class.exit_code == 1


class QuotaError(SweepError):
    exit_code = 3


@pytest.mark.parametrize(
    ("error", "code"), [(StudyNotFoundError("study 'x' is not in db"), 1), (QuotaError("no room"), 3)]
)
def test_group_prints_one_line_with_the_exit_code(error: SweepError, code: int) -> None:
    @click.group(cls=SweepErrorGroup)
    def group() -> None:
        pass

    @group.command()
    def fails() -> None:
        raise error

    result = CliRunner().invoke(group, ["fails"])
    assert result.exit_code == code
    assert result.output == f"error: {error}\n"
