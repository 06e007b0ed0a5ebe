"""Issue 9: study files whose trials would break a config rule fail `sweep validate` and `sweep run` up front.

Each of these passed validation once, and then some of its trials failed at run time. Now each exits 2
naming the key, with no traceback, and creates no study, run, data folder or database.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from helpers import WIDE_LR_SEARCH, study_document, unmade_data_train

from sweep.cli import cli


def study(train: dict[str, Any], search: dict[str, Any] | None = None) -> dict[str, Any]:
    """A study that would generate its data on first use (which validation must not do)."""
    return study_document(
        "rules",
        n_trials=2,
        train=unmade_data_train(**train),
        search=search or WIDE_LR_SEARCH,
        sampler=None,
        pruner=None,
    )


def choices(*values: Any) -> dict[str, Any]:
    return {"type": "categorical", "choices": list(values)}


RULE_BREAKING_STUDIES = [
    pytest.param(
        study({"optim": {"nesterov": True}}, {"optim.name": choices("sgd", "adam")}),
        [
            "search.optim.name.choices[1]",
            "optim.name='adam' with train.optim.nesterov=true",
            "remove 'adam' from the choices or change train.optim.nesterov",
        ],
        id="nesterov-with-adam",
    ),
    pytest.param(
        # As filed: 0.001 is not below the backbone's lr (0.01 * 0.1) even for cosine.
        study({"optim": {"min_lr": 0.001}}, {"optim.schedule": choices("cosine", "step")}),
        ["train.optim.min_lr", "must be below the smallest group lr"],
        id="min-lr-as-filed",
    ),
    pytest.param(
        study({"optim": {"min_lr": 0.0001}}, {"optim.schedule": choices("cosine", "step")}),
        [
            "search.optim.schedule.choices[1]",
            "optim.schedule='step' with train.optim.min_lr=0.0001",
            "only used by the cosine schedule",
        ],
        id="min-lr-with-step",
    ),
    pytest.param(
        study({"model": {"pretrained": True, "weights_path": "some.pt"}}),
        ["train.model.weights_path", "cannot be combined with pretrained: true"],
        id="pretrained-and-weights-path",
    ),
]


@pytest.mark.parametrize(("document", "expected"), RULE_BREAKING_STUDIES)
@pytest.mark.parametrize("command", ["validate", "run"])
def test_rule_breaking_study_exits_2_and_creates_nothing(
    document: dict[str, Any], expected: list[str], command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("study.yaml").write_text(yaml.safe_dump(document))
    result = CliRunner().invoke(cli, [command, "study.yaml"])
    assert result.exit_code == 2, result.output
    for text in expected:
        assert text in result.output
    assert "study.yaml" in result.output and "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study.yaml"], (
        "no study, run, data or database may be created"
    )
