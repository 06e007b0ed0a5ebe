"""The sweep's MLflow tracking: the run lifecycle of a study and every MLflow call, with explicit run ids.

`StudyTracker` and `TrialRun` own the lifecycle of the parent and trial runs; `TrackingStore` is the one
holder of an `MlflowClient` (runs, batched logging, reading, the model registry); `ui_links` says where a
study's runs are in MLflow's web UI.
May import: `sweep.trials` (what a trial records), the base modules and MLflow; never the storage, the run
loop or anything above.
"""

from sweep.tracking.batches import BATCH_LIMIT
from sweep.tracking.lifecycle import StudyTracker, mark_parent_pending
from sweep.tracking.links import UiLinks, run_links, ui_links
from sweep.tracking.store import TrackingStore
from sweep.tracking.tags import PARENT_PENDING_ATTR, PARENT_RUN_ATTR, runtime_tags
from sweep.tracking.trial_run import TrialRun

__all__ = [
    "BATCH_LIMIT",
    "PARENT_PENDING_ATTR",
    "PARENT_RUN_ATTR",
    "StudyTracker",
    "TrackingStore",
    "TrialRun",
    "UiLinks",
    "mark_parent_pending",
    "run_links",
    "runtime_tags",
    "ui_links",
]
