"""The gate before promotion: is the candidate's recorded mIoU real, and is it better than the champion's?

`sweep promote` re-evaluates the candidate's `best.pt` on its own val split and refuses when the result
is more than `MIOU_TOLERANCE` away from the value the study recorded (other data, other code, a corrupt
checkpoint). The model an alias points to now (the champion) may come from another study with another
architecture, so it is evaluated with the config saved in its own checkpoint, with that config's `data`
section replaced by the candidate's: both numbers are on the same val images. The alias moves only to
a better candidate; `force` moves it anyway, and never refuses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sweep.errors import GateMismatchError
from trainer import TrainConfig, config_from_dict
from trainer.checkpoint import load_checkpoint
from trainer.data.stats import split_checksum
from trainer.evaluation import evaluate_checkpoint

MIOU_TOLERANCE = 0.005
"""How far a re-evaluation may land from the recorded val mIoU (precision and kernel differences)."""
Decision = Literal["promoted", "challenger", "forced", "unchanged"]


@dataclass(frozen=True)
class Champion:
    """The version an alias pointed to before the gate, and its mIoU on the candidate's val split."""

    version: str
    miou: float


@dataclass(frozen=True)
class Verdict:
    """What the gate measured and decided; `tags` is how the registry version records it."""

    recorded_miou: float
    candidate_miou: float
    champion: Champion | None
    val_split_checksum: str
    decision: Decision

    @property
    def moves_alias(self) -> bool:
        return self.decision in ("promoted", "forced")

    def tags(self) -> dict[str, str]:
        champion = self.champion
        return {
            "gate.recorded_miou": f"{self.recorded_miou:.6f}",
            "gate.candidate_miou": f"{self.candidate_miou:.6f}",
            "gate.champion_miou": "none" if champion is None else f"{champion.miou:.6f}",
            "gate.champion_version": "none" if champion is None else champion.version,
            "gate.val_split_checksum": self.val_split_checksum,
            "gate.decision": self.decision,
        }


def candidate_config(checkpoint: Path) -> TrainConfig:
    """The config a checkpoint was trained with (saved in it)."""
    return config_from_dict(load_checkpoint(checkpoint)["config"], source=checkpoint)


def reevaluate_candidate(
    checkpoint: Path, config: TrainConfig, recorded_miou: float, *, trial_number: int, force: bool
) -> float:
    """The candidate's val mIoU now, evaluated as `config` (its `candidate_config`) says; raises
    `GateMismatchError` when it is off the record (unless `force`)."""
    miou = evaluate_checkpoint(config, checkpoint)["val/miou"]
    if abs(miou - recorded_miou) > MIOU_TOLERANCE and not force:
        raise GateMismatchError(
            f"trial #{trial_number}: its checkpoint re-evaluates to val mIoU {miou:.4f}, but the study recorded "
            f"{recorded_miou:.4f} (a difference over {MIOU_TOLERANCE}); nothing was promoted. Promote where the "
            "study's val data and code are as they were in training, or pass --force to promote anyway"
        )
    return miou


def evaluate_champion(checkpoint: Path, candidate: TrainConfig) -> float:
    """The champion's val mIoU: its own saved config, with the candidate's `data` section (same val split)."""
    own = load_checkpoint(checkpoint)["config"]
    config = config_from_dict({**own, "data": candidate.to_dict()["data"]}, source=checkpoint)
    return evaluate_checkpoint(config, checkpoint)["val/miou"]


def decide(
    candidate_miou: float, champion: Champion | None, *, same_version: bool, force: bool, beats: bool | None = None
) -> Decision:
    """`unchanged` when the alias is on the candidate already; else the alias moves to a better one: strictly
    better on the val split, or, for a confirmed candidate, better by the seed rule (`beats`, from
    `sweep.promote.seed_rule`; None: no such test was made)."""
    if same_version:
        return "unchanged"
    better = candidate_miou > champion.miou if champion is not None and beats is None else beats
    if champion is None or better:
        return "promoted"
    return "forced" if force else "challenger"


def val_split_checksum(config: TrainConfig) -> str:
    """The content checksum of the val split the gate evaluated on (`trainer.data.stats.split_checksum`)."""
    return split_checksum(config.data.root, config.data.val_split)
