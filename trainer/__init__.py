"""DeepLabV3+ on Pascal VOC 2012: data, model, losses, metrics and the `train` objective.

The library runs without Optuna or MLflow: `train(config, report)` is the whole contract a sweep needs.
Public names are imported on first use, so `import trainer` and the CLI's start stay fast. Importing the
package bounds how long OpenMP threads spin (`trainer.cpu_share.bound_openmp_spinning`), which only works
before torch is loaded.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

from trainer.cpu_share import bound_openmp_spinning

bound_openmp_spinning(os.environ)

_EXPORTS = {
    "TrainConfig": "trainer.config",
    "config_from_dict": "trainer.config_loading",
    "load_config": "trainer.config_loading",
    "ReportCallback": "trainer.engine",
    "TrainResult": "trainer.engine",
    "train": "trainer.engine",
    "CheckpointError": "trainer.errors",
    "ConfigError": "trainer.errors",
    "DatasetError": "trainer.errors",
    "DivergedError": "trainer.errors",
    "DownloadError": "trainer.errors",
    "TrainerError": "trainer.errors",
    "WeightsError": "trainer.errors",
    "TrainingListener": "trainer.listener",
    "build_model": "trainer.model",
}

__all__ = [
    "CheckpointError",
    "ConfigError",
    "DatasetError",
    "DivergedError",
    "DownloadError",
    "ReportCallback",
    "TrainConfig",
    "TrainResult",
    "TrainerError",
    "TrainingListener",
    "WeightsError",
    "build_model",
    "config_from_dict",
    "load_config",
    "train",
]

if TYPE_CHECKING:
    from trainer.config import TrainConfig
    from trainer.config_loading import config_from_dict, load_config
    from trainer.engine import ReportCallback, TrainResult, train
    from trainer.errors import (
        CheckpointError,
        ConfigError,
        DatasetError,
        DivergedError,
        DownloadError,
        TrainerError,
        WeightsError,
    )
    from trainer.listener import TrainingListener
    from trainer.model import build_model


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'trainer' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value
