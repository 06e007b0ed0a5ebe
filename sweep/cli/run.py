"""`sweep validate` and `sweep run`: check a study, then run what it still lacks, on one or many workers."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import click
import yaml
from rich.console import Console

from sweep.cli.options import STUDY_ARGUMENT, load_spec, placement_options, storage_options
from sweep.cli.output import best_value, print_table
from sweep.errors import StudyGaveUpError
from sweep.spec.space import describe_space
from sweep.spec.study_file import StudySpec, load_study_spec

if TYPE_CHECKING:  # the run loop imports torch and MLflow, which `sweep validate` never needs
    from sweep.parallel.workers import StudyLaunch, WorkerPlan
    from sweep.run.study import SweepOutcome


@click.command()
@STUDY_ARGUMENT
def validate(study_file: str) -> None:
    """Check STUDY.yaml and print the resolved study and its search space; creates nothing."""
    spec = load_study_spec(study_file)
    click.echo(yaml.safe_dump(spec.resolved(), sort_keys=False), nl=False)
    click.echo("search space:")
    for line in describe_space(spec.search):
        click.echo(f"  {line}")


@click.command()
@STUDY_ARGUMENT
@click.option(
    "--n-trials", type=click.IntRange(min=1), default=None, help="The study's total trials (overrides study.n_trials)."
)
@placement_options
@storage_options
@click.option("--quiet", is_flag=True, help="Plain progress lines (for CI logs), no live bar.")
@click.option(
    "--warm-start-from",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="OTHER.yaml",
    help="Copy the finished trials of the study in OTHER.yaml that fit this search (replaces warm_start).",
)
@click.option("--worker-index", type=int, default=None, hidden=True)
@click.option("--events-fd", type=int, default=None, hidden=True)
def run(
    study_file: str,
    n_trials: int | None,
    timeout: int | None,
    storage: str | None,
    tracking_uri: str | None,
    quiet: bool,
    workers: int | None,
    gpus: list[str] | None,
    workers_per_gpu: int | None,
    warm_start_from: str | None,
    worker_index: int | None,
    events_fd: int | None,
) -> None:
    """Run the trials STUDY.yaml still lacks; a finished study runs nothing.

    Ctrl-C (SIGINT) or SIGTERM stops the running trials after their current step and queues them to
    resume (exit code 130 or 143); run the same command again to go on. A second one exits at once.

    With --workers N (or --gpus), N worker processes share the study and one view shows them all.
    Several `sweep run` on several hosts may share one study too: point --storage (PostgreSQL) and
    --tracking-uri (an MLflow server) at the same places, through SWEEP_STORAGE and MLFLOW_TRACKING_URI.
    """
    from sweep.parallel.workers import StudyLaunch
    from trainer.console import show_cpu_share_line

    # `sweep run` and each of its workers train and measure: each says once how many threads torch takes.
    # (`promote` evaluates a checkpoint too, but briefly, and its stderr stays free for its one error line.)
    show_cpu_share_line()
    spec = load_spec(
        study_file,
        n_trials=n_trials,
        timeout=timeout,
        storage=storage,
        tracking_uri=tracking_uri,
        warm_start_from=warm_start_from,
    )
    if worker_index is not None:
        run_worker(spec, events_fd)
        return
    plans = placed_workers(workers=workers, gpus=gpus, workers_per_gpu=workers_per_gpu)
    launch = StudyLaunch(study_file, spec, n_trials=n_trials, timeout=timeout)
    _print_outcome(spec, run_launch(launch, plans, quiet=quiet))


def placed_workers(*, workers: int | None, gpus: list[str] | None, workers_per_gpu: int | None) -> list[WorkerPlan]:
    """The worker plans of `placement_options` (`plan_workers`); a combination it refuses is a usage error."""
    from sweep.parallel.workers import plan_workers

    try:
        return plan_workers(workers=workers, gpus=gpus, workers_per_gpu=workers_per_gpu)
    except ValueError as error:
        raise click.UsageError(str(error)) from None


def run_launch(launch: StudyLaunch, plans: list[WorkerPlan], *, quiet: bool) -> SweepOutcome:
    """Run `launch.spec` in this process (one worker, no GPU) or on the `plans` worker processes."""
    from sweep.run.progress import LiveSweepProgress, SweepProgress
    from sweep.run.study import run_study
    from trainer.interrupt import stop_on_signals

    console = Console(stderr=True, highlight=False, soft_wrap=True)  # a log line stays one line
    live = not quiet and console.is_terminal
    if len(plans) == 1 and plans[0].gpu is None:
        progress = LiveSweepProgress(console) if live else SweepProgress(console)
        with stop_on_signals() as stop:
            return run_study(launch.spec, progress, stop=stop)
    from sweep.parallel.supervisor import run_parallel

    return run_parallel(launch, plans, console=console, live=live)


def run_worker(spec: StudySpec, events_fd: int | None) -> None:
    """One worker of `sweep run --workers`: the single-process loop, its progress sent as events."""
    from sweep.parallel.events import EventProgress
    from sweep.run.study import run_study
    from trainer.interrupt import Interrupted, stop_on_signals

    if events_fd is None:
        raise click.UsageError("--worker-index needs --events-fd (both are set by `sweep run --workers`)")
    with os.fdopen(events_fd, "w", buffering=1) as stream, stop_on_signals(announce=False) as stop:
        progress = EventProgress(stream)
        try:
            outcome = run_study(spec, progress, summarise=False, seed=False, stop=stop)
        except Interrupted as interrupted:  # the parent says how to resume, once for every worker
            sys.exit(interrupted.exit_code)
        except StudyGaveUpError as gave_up:  # the parent says why, counting every worker's failed trials
            sys.exit(gave_up.exit_code)
        progress.finished(outcome.ran)


def _print_outcome(spec: StudySpec, outcome: Any) -> None:
    from sweep.results.reports import status_rows, study_compute, study_links

    rows = status_rows(outcome.study)
    print_table(rows, title=f"study {spec.study.name}")
    states = [row.state for row in rows]
    failed_for_good = sum(1 for row in rows if row.state == "FAIL" and row.note)
    retried = sum(1 for row in rows if row.retry_of is not None)
    best = best_value(outcome.study)
    click.echo(
        f"ran {outcome.ran} trials in {outcome.wall_seconds:.1f} s; study has {states.count('COMPLETE')} complete, "
        f"{states.count('PRUNED')} pruned, {states.count('INFEASIBLE')} infeasible, {failed_for_good} failed for "
        f"good, {retried} retries; best val mIoU {best}"
    )
    click.echo(study_compute(outcome.study).saving_line())
    links = study_links(spec, outcome.study)
    if links is not None:
        if links.serve is not None:
            click.echo(f"MLflow UI: start it with `{links.serve}`, then open")
        click.echo(f"runs (best first): {links.runs}")
        if links.best_run is not None:
            click.echo(f"best run: {links.best_run}")
