"""Study files for the sweep benchmarks: a study whose storage, tracking store and checkpoints live in one folder.

`write_isolated_study` copies a study file into a scratch folder with dotted-path changes applied
(`study.n_trials`, `train.epochs`, ...) and points `study.storage`, `study.artifacts_dir` and `tracking.uri`
into that folder, so a benchmark never touches `runs/` and always starts from an empty study.
`provision_data` generates a study's synthetic data before any timing starts.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from sweep.spec.study_file import StudySpec, load_study_spec
from trainer.data.provision import ensure_data

REPO = Path(__file__).resolve().parents[1]


TINY_DATA_CHANGES: dict[str, Any] = {
    "train.data.root": str(REPO / "data" / "voc-synth-bench-tiny-32px"),
    "train.data.synthesize": {"train": 16, "val": 4, "size": 32, "seed": 0},
    "train.data.crop_size": 32,
}
"""The generated data of the benchmarks' `--smoke` modes: 16 train and 4 val images of 32 px."""


def write_isolated_study(source: Path, folder: Path, changes: Mapping[str, Any]) -> StudySpec:
    """`source` with `changes` (dotted path -> value) applied, kept in `folder`; a relative data root is
    resolved against the repository, so generated data is made once and shared between runs."""
    document = yaml.safe_load(source.read_text())
    root = Path(document["train"]["data"]["root"])
    placed = {
        "study.storage": f"sqlite:///{folder / 'optuna.db'}",
        "study.artifacts_dir": str(folder / "trials"),
        "tracking.uri": f"sqlite:///{folder / 'mlflow.db'}",
        "train.data.root": str(root if root.is_absolute() else REPO / root),
    }
    for path, value in {**placed, **changes}.items():
        *parents, leaf = path.split(".")
        section = document
        for key in parents:
            section = section.setdefault(key, {})
        section[leaf] = value
    written = folder / source.name
    written.write_text(yaml.safe_dump(document, sort_keys=False))
    return load_study_spec(written)


def provision_data(spec: StudySpec) -> float:
    """Generate the study's synthetic data if it is missing; returns the seconds it took (0 when it existed)."""
    started = time.perf_counter()
    ensure_data(spec.train.data)
    return time.perf_counter() - started
