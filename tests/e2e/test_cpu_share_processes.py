"""What each process's CPU share does in real processes: `import trainer` bounds OpenMP spinning before torch
loads, `trainer evaluate` logs its share once, and a study trains a trial whose latency was measured under
contention without judging it (`trainer.cpu_share`, `trainer.latency_noise`)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import yaml
from click.testing import CliRunner
from helpers import QUICK_LATENCY, tiny_train
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

import trainer.model_cost as model_cost
from sweep.cli import cli as sweep_cli
from sweep.trials.record import INFEASIBLE_ATTR, NETWORK_COST_ATTR
from trainer.cpu_share import OPENMP_SPIN_COUNT, cpu_share

ROOT = Path(__file__).resolve().parents[2]


def test_importing_trainer_bounds_spinning_before_torch_loads() -> None:
    """libgomp reads GOMP_SPINCOUNT once, when torch loads it, so `import trainer` must set it before then."""
    code = "import os, sys; import trainer; print(os.environ['GOMP_SPINCOUNT'], 'torch' in sys.modules)"
    environment = {key: value for key, value in os.environ.items() if key not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    result = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True)
    assert result.stdout.split() == [str(OPENMP_SPIN_COUNT), "False"]


def _trainer_evaluate(config_file: Path, **environ: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if key != "OMP_NUM_THREADS"}
    environment |= {"PYTHONPATH": str(ROOT), **environ}
    argv = [sys.executable, "-m", "trainer.cli", "evaluate", str(config_file)]
    return subprocess.run(argv, env=environment, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_trainer_evaluate_says_once_which_share_it_took(synth_voc: Path, tmp_path: Path) -> None:
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(tiny_train(synth_voc)))
    result = _trainer_evaluate(config_file, TRAINER_CPU_WORKERS="2")
    assert result.returncode == 0, result.stderr
    expected = cpu_share({"TRAINER_CPU_WORKERS": "2"}).text()  # this machine's figure
    assert expected.endswith(" shared by 2 workers")
    assert [line for line in result.stderr.splitlines() if line.startswith("torch uses")] == [expected]

    bad = _trainer_evaluate(config_file, TRAINER_CPU_WORKERS="all")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip() == (
        "error: TRAINER_CPU_WORKERS: 'all' is not a positive whole number (the number of worker processes "
        "sharing the CPUs); set it to e.g. 2, or unset it"
    )


@pytest.mark.slow
def test_a_study_trains_a_trial_whose_latency_is_unreliable_and_says_so(
    synth_voc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No network keeps 0.001 ms; measured beside 1000 runnable tasks, the trial is not judged by it."""
    monkeypatch.setattr(model_cost, "others_runnable", lambda: [1000, 1000, 1000])
    monkeypatch.setattr(model_cost, "_MEASURED", {})
    document = {
        "study": {"latency": QUICK_LATENCY, "name": "noisy", "n_trials": 1},
        "train": tiny_train(synth_voc),
        "search": {"optim.lr": {"type": "float", "low": 0.01, "high": 0.05}},
        "constraints": {"latency_ms": {"max": 0.001}},
    }
    (tmp_path / "noisy.yaml").write_text(yaml.safe_dump(document))
    monkeypatch.chdir(tmp_path)
    ran = CliRunner().invoke(sweep_cli, ["run", "noisy.yaml", "--quiet"], catch_exceptions=False)
    assert ran.exit_code == 0, ran.output

    (trial,) = optuna.load_study(study_name="noisy", storage=f"sqlite:///{tmp_path}/runs/noisy/optuna.db").trials
    assert trial.state == TrialState.COMPLETE and INFEASIBLE_ATTR not in trial.user_attrs
    assert trial.constraints == {}, "no latency value for Optuna to judge by"
    network = trial.user_attrs[NETWORK_COST_ATTR]
    assert network["latency_reliable"] is False and network["latency_spread_ms"] == 0.0
    warning = re.search(r"warning: trial #0: (latency [\d.]+ ms is unreliable: .*)", ran.output)
    assert warning is not None, ran.output
    assert re.fullmatch(
        r"latency [\d.]+ ms is unreliable: 1000 other runnable tasks beside its \d+ threads? on \d+ CPUs; "
        r"not judged against latency_ms max 0\.001",
        warning.group(1),
    )
    run = MlflowClient(f"sqlite:///{tmp_path}/runs/mlflow.db").get_run(trial.user_attrs["mlflow_run_id"])
    assert run.data.tags["warning.latency"] == warning.group(1)
