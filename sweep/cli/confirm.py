"""`sweep confirm`: train a study's best trials again with fresh seeds, and show what they score."""

from __future__ import annotations

import click

from sweep.cli.options import STUDY_ARGUMENT, load_spec, placement_options, storage_options
from sweep.cli.output import print_confirmation_table
from sweep.cli.run import placed_workers, run_launch, run_worker

DEFAULT_TOP = 3
DEFAULT_SEEDS = 3


@click.command()
@STUDY_ARGUMENT
@click.option(
    "--top",
    type=click.IntRange(min=1),
    default=DEFAULT_TOP,
    show_default=True,
    help="Retrain this many of the best feasible completed trials.",
)
@click.option(
    "--seeds",
    type=click.IntRange(min=1),
    default=DEFAULT_SEEDS,
    show_default=True,
    help="Retrain each of them this many times, each time with a fresh seed.",
)
@placement_options
@storage_options
@click.option("--quiet", is_flag=True, help="Plain progress lines (for CI logs), no live bar.")
@click.option("--worker-index", type=int, default=None, hidden=True)
@click.option("--events-fd", type=int, default=None, hidden=True)
def confirm(
    study_file: str,
    top: int,
    seeds: int,
    storage: str | None,
    tracking_uri: str | None,
    quiet: bool,
    timeout: int | None,
    workers: int | None,
    gpus: list[str] | None,
    workers_per_gpu: int | None,
    worker_index: int | None,
    events_fd: int | None,
) -> None:
    """Retrain the --top best trials of STUDY.yaml --seeds times each, changing only `seed`, as the trials
    of the study `<name>-confirm` in the same storage (its own parent run in MLflow, each retrain's run
    tagged sweep.confirms_trial); then print each trial's mean and standard deviation over its retrains.

    Rerunning resumes: what is queued or done is not queued again, and a finished confirmation runs
    nothing. The retrains run as `sweep run` runs trials: --workers, --gpus and --timeout alike, and on
    several hosts against a shared --storage. `sweep best --confirmed` shows the result and `sweep promote`
    uses it.
    """
    from sweep.parallel.workers import StudyLaunch
    from sweep.results.confirmation import confirmation_of
    from sweep.run.confirm import plan_confirmation
    from trainer.console import show_cpu_share_line

    show_cpu_share_line()
    spec = load_spec(study_file, timeout=timeout, storage=storage, tracking_uri=tracking_uri)
    confirming = plan_confirmation(spec, top=top, seeds=seeds)
    if worker_index is not None:
        run_worker(confirming, events_fd)
        return
    plans = placed_workers(workers=workers, gpus=gpus, workers_per_gpu=workers_per_gpu)
    options = ("--top", str(top), "--seeds", str(seeds))
    launch = StudyLaunch(study_file, confirming, timeout=timeout, command="confirm", options=options)
    outcome = run_launch(launch, plans, quiet=quiet)
    confirmation = confirmation_of(outcome.study)
    title = f"study {confirming.study.name}: val mIoU over {seeds} seeds, best mean first"
    print_confirmation_table(confirmation, title=title)
    click.echo(
        f"ran {outcome.ran} retrains in {outcome.wall_seconds:.1f} s; {confirmation.completed} of "
        f"{confirmation.planned} completed"
    )
