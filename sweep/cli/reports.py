"""`sweep status`, `report`, `dashboard`, `best`, `promote` and `predict`: read a study's results and use its best model."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, cast

import click

from sweep.cli.options import STUDY_ARGUMENT, load_spec, storage_options, tracking_uri_option
from sweep.cli.output import (
    best_json,
    confirmation_json,
    front_json,
    json_default,
    print_confirmation_table,
    print_front_table,
    print_table,
    row_json,
)
from sweep.database_urls import TrackingUri
from sweep.errors import NothingToPromoteError
from sweep.spec.constraints import FIGURES, Constraints, Figure
from sweep.spec.settings import DEFAULT_TRACKING_URI
from trainer.console import prediction_options

if TYPE_CHECKING:
    import optuna

    from sweep.promote.registry import Promotion
    from sweep.results.confirmation import Confirmation
    from sweep.spec.study_file import StudySpec

_POSITIVE = click.FloatRange(min=0, min_open=True)
"""A budget's maximum: any number above 0."""


@click.command()
@STUDY_ARGUMENT
@storage_options
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help='Print {"trials": [rows], "compute": {totals}, "disk_used_bytes": N} as JSON.',
)
def status(study_file: str, storage: str | None, tracking_uri: str | None, as_json: bool) -> None:
    """Show every trial (number, state, best mIoU, epochs run, params, MLflow run id, why it was pruned), the
    study's compute and what pruning saved, and the disk its local checkpoints use; once `sweep confirm` ran,
    also each confirmed trial's mean and standard deviation over its retrains."""
    from sweep.results.confirmation import load_confirmation
    from sweep.results.reports import status_rows, study_compute, study_disk_used
    from sweep.storage.lookup import load_existing_study
    from sweep.trials.disk import human_size

    spec = load_spec(study_file, storage=storage, tracking_uri=tracking_uri)
    study = load_existing_study(spec)
    rows = status_rows(study)
    used = study_disk_used(spec, study)
    compute = study_compute(study)
    confirmation = load_confirmation(spec)
    if as_json:
        report = {"trials": [row_json(row) for row in rows], "compute": compute.summary(), "disk_used_bytes": used}
        if confirmation is not None:
            report["confirmation"] = confirmation_json(confirmation)
        click.echo(json.dumps(report, default=json_default))
    else:
        print_table(rows, title=f"study {spec.study.name}")
        click.echo(compute.saving_line())
        click.echo(f"disk used: {human_size(used)} of local checkpoints under {spec.artifacts_dir}")
        if confirmation is not None:
            _print_confirmation(confirmation)


@click.command()
@STUDY_ARGUMENT
@storage_options
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Where to write the page.  [default: runs/<study name>/report.html, beside the default storage]",
)
@click.option("--open", "open_page", is_flag=True, help="Open the page in the default web browser.")
def report(
    study_file: str, storage: str | None, tracking_uri: str | None, out_file: Path | None, open_page: bool
) -> None:
    """Write the study report: one self-contained HTML page with the study's state, budget and compute, a
    leaderboard of every trial (linked to its MLflow run) and its charts; the page the study's parent run
    carries as report.html."""
    import webbrowser

    from sweep.results.report import write_report
    from sweep.storage.lookup import load_existing_study

    spec = load_spec(study_file, storage=storage, tracking_uri=tracking_uri)
    study = load_existing_study(spec)
    page = write_report(spec, study, out_file or Path("runs") / spec.study.name / "report.html")
    click.echo(f"report: {page}")
    if open_page:
        webbrowser.open(page.resolve().as_uri())


@click.command()
@STUDY_ARGUMENT
@storage_options
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True, help="Port on 127.0.0.1.")
def dashboard(study_file: str, storage: str | None, tracking_uri: str | None, port: int) -> None:
    """Serve optuna-dashboard (the `dashboard` extra) on the study's storage at http://127.0.0.1:PORT, safe to
    open while the study runs; Ctrl-C stops it."""
    from sweep.results.dashboard import HOST, serve_dashboard

    spec = load_spec(study_file, storage=storage, tracking_uri=tracking_uri)
    click.echo(f"optuna-dashboard for study {spec.study.name!r}: http://{HOST}:{port}/dashboard (Ctrl-C stops it)")
    serve_dashboard(spec, port=port)


@click.command()
@STUDY_ARGUMENT
@storage_options
@click.option(
    "--json", "as_json", is_flag=True, help="Print the best trial (with --front: the front's trials) as JSON."
)
@click.option(
    "--front",
    "show_front",
    is_flag=True,
    help="List the Pareto front of val mIoU against a measured figure of the network instead, cheapest first.",
)
@click.option(
    "--by",
    type=click.Choice(FIGURES),
    default=None,
    help="The figure the front ranks by (with --front).  [default: latency_ms]",
)
@click.option(
    "--confirmed",
    "show_confirmed",
    is_flag=True,
    help="Show the trials `sweep confirm` retrained instead: mean and std over seeds, best mean first.",
)
def best(
    study_file: str,
    storage: str | None,
    tracking_uri: str | None,
    as_json: bool,
    show_front: bool,
    by: str | None,
    show_confirmed: bool,
) -> None:
    """Show the best completed trial that keeps the study's constraints: params, metrics at its best epoch,
    its network's cost and model URIs. With --front, every such trial that no other beats on both val mIoU
    and the --by figure. With --confirmed, the trials `sweep confirm` retrained, by their mean over seeds."""
    from sweep.storage.lookup import load_existing_study
    from sweep.trials.own_trials import no_best_reason, own_best_trial

    if by is not None and not show_front:
        raise click.UsageError("--by chooses the figure of --front; add --front")
    if show_confirmed and show_front:
        raise click.UsageError("--confirmed and --front show different things; give one of them")
    spec = load_spec(study_file, storage=storage, tracking_uri=tracking_uri)
    study = load_existing_study(spec)
    if show_confirmed:
        _print_confirmed(spec, study_file, as_json=as_json)
        return
    if show_front:
        if own_best_trial(study) is None:
            raise NothingToPromoteError(f"study {spec.study.name!r} {no_best_reason(study, f'sweep run {study_file}')}")
        _print_front(spec.study.name, study, cast(Figure, by or "latency_ms"), as_json=as_json)
        return
    from sweep.results.reports import best_summary  # imports MLflow, which the front does not need

    summary = best_summary(spec, study)
    if summary is None:
        raise NothingToPromoteError(f"study {spec.study.name!r} {no_best_reason(study, f'sweep run {study_file}')}")
    if as_json:
        click.echo(json.dumps(best_json(summary), default=json_default))
        return
    row = summary.row
    click.echo(f"best trial #{row.number}: val mIoU {row.best_miou:.4f} (epoch {summary.best_epoch})")
    for key, value in row.params.items():
        click.echo(f"  {key} = {value}")
    for key, value in summary.metrics.items():
        click.echo(f"  {key}: {value:.4f}")
    cost = row.cost
    if cost:
        click.echo(
            f"network: {cost.params_m:.2f} M params, {cost.gflops:.3g} GFLOPs, {cost.latency_ms:.1f} ms per "
            f"image ({cost.measured_on})"
        )
    click.echo(f"model: {summary.model_uri}")


def _print_confirmed(spec: StudySpec, study_file: str, *, as_json: bool) -> None:
    """`sweep best --confirmed`: the confirmation's candidates as a table or JSON; an error when there is none."""
    from sweep.results.confirmation import load_confirmation

    confirmation = load_confirmation(spec)
    if confirmation is None or not confirmation.candidates:
        state = "was never confirmed" if confirmation is None else "has no completed retrain yet"
        raise NothingToPromoteError(f"study {spec.study.name!r} {state}; run `sweep confirm {study_file}`")
    if as_json:
        click.echo(json.dumps(confirmation_json(confirmation), default=json_default))
    else:
        _print_confirmation(confirmation)


def _print_confirmation(confirmation: Confirmation) -> None:
    """The confirmation's table, and how many retrains are still to come when it is not finished."""
    print_confirmation_table(
        confirmation, title=f"study {confirmation.study_name}: val mIoU over seeds, best mean first"
    )
    if not confirmation.finished:
        click.echo(f"{confirmation.unfinished} of {confirmation.planned} retrains still wait or run")


def _print_front(study_name: str, study: optuna.Study, by: Figure, *, as_json: bool) -> None:
    """`sweep best --front`: the front as a table or a JSON list, then (on stderr with --json) what it left out."""
    from sweep.results.front import study_front

    front = study_front(study, by)
    if not front.trials:
        why = "was recorded unreliable" if front.unreliable else "was not measured"
        raise NothingToPromoteError(
            f"study {study_name!r}: no completed trial can be ranked by {by}: its {by} {why}; rank by another "
            "--by figure"
        )
    if as_json:
        click.echo(json.dumps(front_json(front), default=json_default))
    else:
        print_front_table(front, title=f"study {study_name}: val mIoU against {by}")
    note = front.unreliable_note()
    if note is not None:
        click.echo(f"note: {note}", err=as_json)


@click.command()
@STUDY_ARGUMENT
@click.option("--alias", default="champion", show_default=True, help="Registry alias to point at the best model.")
@click.option("--name", default=None, help="Registered model name (default: tracking.registered_model).")
@click.option(
    "--force", is_flag=True, help="Move ALIAS even when the re-evaluation is off the record or the model is worse."
)
@click.option("--max-latency-ms", type=_POSITIVE, default=None, help="Promote the best trial within this latency.")
@click.option("--max-params-m", type=_POSITIVE, default=None, help="... within this many million parameters.")
@click.option("--max-gflops", type=_POSITIVE, default=None, help="... within this many GFLOPs per image.")
@storage_options
def promote(
    study_file: str,
    alias: str,
    name: str | None,
    force: bool,
    max_latency_ms: float | None,
    max_params_m: float | None,
    max_gflops: float | None,
    storage: str | None,
    tracking_uri: str | None,
) -> None:
    """Gate the best feasible trial's model, register it (once) and set ALIAS on it if it beats ALIAS's model.

    The checkpoint is re-evaluated on the val split and must match its recorded mIoU within 0.005. The
    model ALIAS points to now is evaluated on the same split; a model that is not better gets the alias
    `challenger` instead. Both numbers are tagged on the registry version. With --max-latency-ms,
    --max-params-m or --max-gflops (combinable), the candidate is the best trial whose network keeps them
    all (a latency recorded unreliable keeps none), and the budget is tagged too."""
    from sweep.promote.registry import promote as promote_best
    from sweep.results.within_budget import budget_options

    maxima = {"latency_ms": max_latency_ms, "params_m": max_params_m, "gflops": max_gflops}
    bounds = {key: {"max": limit} for key, limit in maxima.items() if limit is not None}
    budget = Constraints.model_validate(bounds) if bounds else None
    spec = load_spec(study_file, storage=storage, tracking_uri=tracking_uri)
    promotion = promote_best(spec, alias=alias, name=name, force=force, budget=budget)
    verdict = promotion.verdict
    verb = "registered" if promotion.created else "already registered as"
    click.echo(
        f"trial #{promotion.trial_number} (val mIoU {verdict.candidate_miou:.4f} re-evaluated, "
        f"{verdict.recorded_miou:.4f} recorded) {verb} {promotion.name} version {promotion.version}"
    )
    cost = promotion.cost
    if budget is not None and cost is not None:
        click.echo(
            f"within {budget_options(budget)}: {cost.params_m:.2f} M params, {cost.gflops:.3g} GFLOPs, "
            f"{cost.latency_ms:.1f} ms per image ({cost.measured_on})"
        )
    _print_confirmation_note(promotion, study_file)
    champion = verdict.champion
    if champion is not None:
        click.echo(
            f"{alias} was version {champion.version}: val mIoU {champion.miou:.4f} on the same val split "
            "(evaluated with the config saved in its checkpoint, on this study's val data)"
        )
    if champion is not None and verdict.decision == "challenger":
        click.echo(
            f"not better than version {champion.version}: {alias!r} stays there; alias "
            f"'challenger' -> {promotion.uri} (--force moves {alias!r} anyway)"
        )
    else:
        click.echo(f"alias {promotion.alias!r} -> {promotion.uri} ({verdict.decision})")


def _print_confirmation_note(promotion: Promotion, study_file: str) -> None:
    """Whether the promoted model was confirmed over seeds, and by which rule it was judged."""
    choice = promotion.confirmed
    if choice is None:
        click.echo(
            f"unconfirmed: trial #{promotion.trial_number} trained once, and a lucky seed cannot be told apart; "
            f"`sweep confirm {study_file}` retrains the best trials with new seeds"
        )
        return
    winner, retrain = choice.winner, choice.retrain
    spread = "" if winner.std is None else f" ± {winner.std:.4f}"
    click.echo(
        f"confirmed: trial #{winner.trial} has the best mean val mIoU over {len(winner.values)} seeds, "
        f"{winner.mean:.4f}{spread} (it recorded {winner.original_value:.4f}); registered its median retrain, "
        f"trial #{retrain.number} of study {choice.confirmation.study_name!r}"
    )
    test = promotion.seed_test
    click.echo(f"rule: {'no champion to test against' if test is None else test.text()}")


@click.command()
@click.option(
    "--model",
    "reference",
    required=True,
    metavar="MODEL_URI_OR_CHECKPOINT",
    help="models:/NAME@ALIAS, runs:/ID/PATH, or a best.pt file.",
)
@prediction_options
@click.option(
    "--tracking-uri",
    default=lambda: os.environ.get("MLFLOW_TRACKING_URI", DEFAULT_TRACKING_URI),
    callback=tracking_uri_option,
    show_default=f"$MLFLOW_TRACKING_URI or {DEFAULT_TRACKING_URI}",
    help="MLflow tracking URI that holds the model.",
)
def predict(reference: str, images: tuple[Path, ...], out_dir: Path, device: str, tracking_uri: TrackingUri) -> None:
    """Segment IMAGES with a registered model and write VOC palette masks and colour overlays to --out."""
    from sweep.promote.model_uris import resolve_checkpoint
    from trainer.predict import check_images, load_model, predict_files
    from trainer.runtime import resolve_device

    check_images(images)
    torch_device = resolve_device(device)
    model, _ = load_model(resolve_checkpoint(reference, tracking_uri=tracking_uri), torch_device)
    for prediction in predict_files(model, list(images), out_dir, torch_device):
        click.echo(f"{prediction.image} -> {prediction.mask}, {prediction.overlay}")
