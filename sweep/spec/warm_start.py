"""The `warm_start` section: the study file of another study whose finished trials this one starts from.

`sweep.run.warm_start` does the copying when the study is created.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class WarmStartSettings(BaseModel):
    """The `warm_start` section: `from`, the study file of the study to copy trials from (a path relative
    to the study file that names it; on the command line, relative to the working directory)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    study_file: Path = Field(alias="from")
