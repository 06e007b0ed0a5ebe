"""The table of trials that `sweep status` and `sweep run` print: whole on a log or a pipe, fitted on a terminal."""

from __future__ import annotations

import io
import re

from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial
from rich.console import Console

from sweep.cli.output import print_table
from sweep.results.reports import TrialRow, trial_row

ANSI_STYLE = re.compile(r"\x1b\[[0-9;]*m")
"""The escape codes of bold and dim text, which a terminal shows as no characters."""
PRUNED_NOTE = "pruned at epoch 3: val mIoU 0.1597 < median 0.1948 of 2 trials"


def pruned_row() -> TrialRow:
    """A pruned trial with four params and the pruner's note: wider than 80 columns in all."""
    params = {"optim.lr": 0.0312, "optim.weight_decay": 0.000125, "optim.schedule": "cosine", "model.output_stride": 16}
    distributions = {
        "optim.lr": FloatDistribution(1e-3, 0.1, log=True),
        "optim.weight_decay": FloatDistribution(1e-5, 1e-3, log=True),
        "optim.schedule": CategoricalDistribution(["poly", "cosine"]),
        "model.output_stride": CategoricalDistribution([8, 16]),
    }
    trial = create_trial(
        state=TrialState.PRUNED,
        params=params,
        distributions=distributions,
        intermediate_values={1: 0.12, 2: 0.15, 3: 0.1597},
        user_attrs={
            "pruned_at_step": 3,
            "pruned_value": 0.1597,
            "pruned_against": 0.1948,
            "pruned_compared_trials": 2,
            "mlflow_run_id": "0123456789abcdef0123456789abcdef",
        },
    )
    trial.number = 4
    return trial_row(trial)


def printed(*, terminal: bool) -> list[str]:
    stream = io.StringIO()
    console = Console(file=stream, width=80, force_terminal=terminal, no_color=True, highlight=False)
    print_table([pruned_row()], title="study probe", console=console)
    return ANSI_STYLE.sub("", stream.getvalue()).splitlines()


def test_off_a_terminal_each_trial_is_one_line_with_every_value_whole() -> None:
    lines = printed(terminal=False)
    (line,) = [line for line in lines if "PRUNED" in line]
    assert "lr=0.0312 weight_decay=0.000125 schedule=cosine output_stride=16" in line
    assert PRUNED_NOTE in line
    assert "0123456789ab" in line and "0.1597" in line
    assert len(line) > 80, "the table takes the width its cells need, not 80 columns"
    assert not any("…" in line for line in lines)
    assert len(lines) == 6, "title, top rule, header, rule, the one row, bottom rule"


def test_on_a_terminal_the_table_fits_the_terminal_as_before() -> None:
    lines = printed(terminal=True)
    assert max(len(line) for line in lines) <= 80
    assert PRUNED_NOTE not in "\n".join(lines), "the note folds over several lines of an 80-column terminal"
    assert len(lines) > 6
