"""trainer.train within one epoch: the report callback, checkpoints, resume refusals, clipping, divergence, data.

Runs over several epochs (every epoch reported, exact resume, early stopping) are in
`tests/e2e/test_training_runs.py`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers import tiny_config

from trainer import config_from_dict, train
from trainer.checkpoint import LAST_NAME, load_checkpoint
from trainer.errors import CheckpointError, ConfigError, DatasetError, DivergedError


def test_rerun_of_a_finished_run_trains_nothing(synth_voc: Path, tmp_path: Path) -> None:
    config = tiny_config(synth_voc, tmp_path / "ckpt", epochs=1)
    first = train(config)
    calls: list[int] = []
    again = train(config, lambda e, m: calls.append(e))
    assert calls == [] and again.best_miou == first.best_miou and again.epochs_run == 1


def test_resume_refuses_a_checkpoint_of_another_config(synth_voc: Path, tmp_path: Path) -> None:
    train(tiny_config(synth_voc, tmp_path / "ckpt", epochs=1))
    with pytest.raises(CheckpointError, match=r"different configuration \(changed: optim.lr\)"):
        train(tiny_config(synth_voc, tmp_path / "ckpt", epochs=1, **{"optim.lr": 0.5}))


def test_exception_from_report_propagates_unchanged(synth_voc: Path, tmp_path: Path) -> None:
    class Pruned(Exception):
        pass

    def prune(epoch: int, metrics: Mapping[str, float]) -> None:
        raise Pruned(f"epoch {epoch}")

    with pytest.raises(Pruned, match="epoch 1"):
        train(tiny_config(synth_voc, tmp_path / "ckpt"), prune)
    assert load_checkpoint(tmp_path / "ckpt" / LAST_NAME)["epoch"] == 1, "the epoch is saved before report"


def test_nan_loss_raises_diverged_at_once(synth_voc: Path, tmp_path: Path) -> None:
    reports: list[int] = []
    with pytest.raises(DivergedError, match=r"loss diverged to nan at epoch 1, iteration 2; lower optim.lr") as caught:
        train(tiny_config(synth_voc, tmp_path / "ckpt", **{"optim.lr": 1e30}), lambda e, m: reports.append(e))
    assert math.isnan(caught.value.loss) and caught.value.iteration == 2  # step 1 is finite, its update blows up
    assert reports == [] and not (tmp_path / "ckpt" / LAST_NAME).exists()


def test_gradient_clipping_bounds_the_gradient_norm(
    synth_voc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    norms_after: list[float] = []
    clip = torch.nn.utils.clip_grad_norm_

    def recording_clip(parameters: Any, max_norm: float, *args: Any, **kwargs: Any) -> torch.Tensor:
        parameters = list(parameters)
        total = clip(parameters, max_norm, *args, **kwargs)
        grads = [p.grad.norm() for p in parameters if p.grad is not None]
        norms_after.append(float(torch.linalg.vector_norm(torch.stack(grads))))
        assert float(total) > max_norm, "a fresh network's gradient is larger than 0.05, so clipping bites"
        return total

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", recording_clip)
    train(tiny_config(synth_voc, tmp_path / "ckpt", epochs=1, **{"optim.grad_clip_norm": 0.05}))
    assert len(norms_after) == 2, "one clip per optimisation step"
    assert all(norm == pytest.approx(0.05, rel=1e-4) for norm in norms_after)


def test_patience_counts_from_the_last_gain_above_min_delta() -> None:
    from trainer.engine import _advance
    from trainer.resume import TrainingState

    config = config_from_dict({"early_stopping": {"patience": 3, "min_delta": 0.01}})
    state = TrainingState()
    # Gains of 0.004 per epoch: each is below min_delta, but 0.512 is 0.012 above 0.5.
    for epoch, miou in enumerate([0.5, 0.504, 0.508, 0.512, 0.513, 0.514, 0.515], start=1):
        _advance(state, epoch, {"val/miou": miou}, config)
        if state.stopped_early:
            break
    assert state.best_miou == 0.515 and state.best_epoch == 7
    assert state.stopped_early and state.epoch == 7 and state.patience_reference == 0.512


def test_missing_data_root_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="trainer data synth"):
        train(tiny_config(tmp_path / "absent", tmp_path / "ckpt"))


def test_synthesizes_data_on_first_use(tmp_path: Path) -> None:
    config = tiny_config(
        tmp_path / "made", tmp_path / "ckpt", epochs=1, **{"data.synthesize": {"train": 4, "val": 2, "size": 48}}
    )
    train(config)
    assert (tmp_path / "made" / "ImageSets" / "Segmentation" / "train.txt").read_text().count("\n") == 4


def test_batch_larger_than_the_split_is_a_config_error(synth_voc: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="exceeds the 8 images"):
        train(tiny_config(synth_voc, tmp_path / "ckpt", **{"data.batch_size": 9}))


def test_evaluate_checkpoint_builds_only_the_network_and_the_val_data(
    synth_voc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trainer import evaluation
    from trainer.components import device_policy

    # Neither split nor statistics of training are read: a missing train split does not matter.
    config = tiny_config(synth_voc, tmp_path / "ckpt", **{"data.train_split": "absent", "loss.class_weights": "stats"})
    policies: list[Any] = []
    evaluate = evaluation.evaluate
    monkeypatch.setattr(evaluation, "evaluate", lambda *args: policies.append(args[2]) or evaluate(*args))
    metrics = evaluation.evaluate_checkpoint(config)
    assert policies == [device_policy(config)], "evaluation runs with training's device and precision"
    assert 0.0 <= metrics["val/miou"] <= 1.0 and not (tmp_path / "ckpt").exists()
