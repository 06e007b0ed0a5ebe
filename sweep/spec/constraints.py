"""The `constraints` section: upper bounds on what a trial's network costs to run, and `study.latency`,
how its latency is measured.

    constraints:
      latency_ms: {max: 25}
      params_m: {max: 30}

`Constraints.excess` gives Optuna's constraint values (`figure - max`, feasible at 0 or less) and
`Constraints.judge` the bounds a set of figures breaks. Measuring a trial and recording the verdict on it
belong to `sweep.trials.feasibility`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from trainer.constants import LATENCY_IMAGE_SIZE

Figure = Literal["params_m", "gflops", "latency_ms"]
"""A network's measured figure, named as a bound of `Constraints`."""
FIGURES: tuple[Figure, ...] = get_args(Figure)
"""A network's measured figures, in the order the study file's bounds and a trial's record list them."""


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Bound(_Spec):
    """The largest value a figure may take."""

    max: Annotated[float, Field(gt=0)]


class Constraints(_Spec):
    """The `constraints` section: an upper bound on any of a trial network's figures (None: unbounded)."""

    latency_ms: Bound | None = None
    params_m: Bound | None = None
    gflops: Bound | None = None

    def bounds(self) -> dict[str, float]:
        """Each declared figure's maximum."""
        return {key: bound.max for key in FIGURES if (bound := getattr(self, key)) is not None}

    def excess(self, figures: Mapping[str, float]) -> dict[str, float]:
        """`figure - max` for each declared bound: Optuna's constraint values (feasible at 0 or less)."""
        return {key: float(figures[key]) - limit for key, limit in self.bounds().items()}

    def judge(self, figures: Mapping[str, float]) -> Infeasible | None:
        """The bounds `figures` break, or None when it keeps them all."""
        broken = {key: (float(figures[key]), limit) for key, limit in self.bounds().items() if figures[key] > limit}
        return Infeasible(broken) if broken else None


class LatencyProbe(_Spec):
    """`study.latency`: how each trial's latency is measured: one `image_size`² image (batch 1) on the
    trial's device, the median of `repeats` passes after `warmup` untimed ones."""

    image_size: Annotated[int, Field(ge=32)] = LATENCY_IMAGE_SIZE
    warmup: Annotated[int, Field(ge=0)] = 3
    repeats: Annotated[int, Field(ge=1)] = 10


@dataclass(frozen=True)
class Infeasible:
    """The bounds a trial's network breaks: figure -> (measured value, max)."""

    broken: dict[str, tuple[float, float]]

    def text(self) -> str:
        """`latency_ms 31.2 > max 25`, each broken bound (`; ` between them)."""
        parts = [f"{key} {value:.4g} > max {limit:.4g}" for key, (value, limit) in self.broken.items()]
        return "; ".join(parts)
