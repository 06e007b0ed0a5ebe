"""`sweep predict`: MLflow model URIs resolved by the sweep layer (the trainer reads checkpoint files only)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from sweep.cli import cli
from sweep.promote.model_uris import is_model_uri, resolve_checkpoint


@pytest.mark.parametrize(
    ("reference", "uri"),
    [
        ("models:/voc@champion", True),
        ("models:/voc/3", True),
        ("runs:/0123abcd/checkpoint/best.pt", True),
        ("mlflow-artifacts:/1/abc/artifacts/best.pt", True),
        ("runs/smoke/trials/trial-0/best.pt", False),
        ("/abs/best.pt", False),
    ],
)
def test_model_uris_are_told_from_paths(reference: str, uri: bool) -> None:
    assert is_model_uri(reference) is uri


def test_a_checkpoint_path_resolves_to_itself_without_mlflow() -> None:
    assert resolve_checkpoint("runs/x/best.pt") == Path("runs/x/best.pt")


def test_unknown_model_exits_1_with_one_line(synth_voc: Path, tmp_path: Path) -> None:
    image = next((synth_voc / "JPEGImages").glob("*.jpg"))
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    args = [
        "predict",
        "--model",
        "models:/nothing@champion",
        str(image),
        "--out",
        str(tmp_path / "o"),
        "--tracking-uri",
        store,
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1, result.output
    assert "models:/nothing@champion: cannot download the model" in result.output and "Traceback" not in result.output
