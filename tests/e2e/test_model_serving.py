"""The promoted model behind the real `mlflow models serve`, asked over HTTP like a user's client would.

One 1-trial study per module is run and promoted (`sweep promote` as a non-TTY subprocess, whose stderr must
carry no MLflow warning), then `mlflow models serve --env-manager local` serves `models:/serving@champion`
from the study's SQLite tracking store on a free 127.0.0.1 port. A good request must give the masks that the
pyfunc and `sweep predict` give; each bad one a 400 whose message is one line that says what to send.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from services import free_port, run_sweep_study, sweep_command

from sweep.cli import cli as sweep_cli
from trainer.data.voc import read_image

pytestmark = pytest.mark.slow

NAME = "serving"
MODEL_URI = f"models:/{NAME}@champion"
START_TIMEOUT_S = 180
TWO_BY_TWO = [[[[0, 0, 0], [255, 255, 255]], [[128, 128, 128], [64, 64, 64]]]]
"""The request body's `inputs` that docs/sweeps.md's `curl` example sends: one 2x2 image."""


@dataclass(frozen=True)
class Served:
    url: str
    workdir: Path
    tracking_uri: str
    promote: subprocess.CompletedProcess[str]


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]


def environment(tracking_uri: str) -> dict[str, str]:
    """This process's environment with the study's store as MLflow's and the venv's `bin` first on PATH,
    where `mlflow models serve` finds `uvicorn`."""
    env = {key: value for key, value in os.environ.items() if key != "SWEEP_STORAGE"}
    env["MLFLOW_TRACKING_URI"] = tracking_uri
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    return env


@pytest.fixture(scope="module")
def served(synth_voc: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    study = run_sweep_study(NAME, synth_voc, tmp_path_factory.mktemp("serving"), n_trials=1)
    assert study.returncode == 0, study.stdout + study.stderr
    env = environment(study.tracking_uri)
    promote = subprocess.run(
        [*sweep_command(), "promote", "study.yaml"],
        cwd=study.workdir,
        env={key: value for key, value in env.items() if key != "MLFLOW_TRACKING_URI"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert promote.returncode == 0, promote.stdout + promote.stderr
    port = free_port()
    log = study.workdir / "serve.log"  # a file, not a pipe: an unread pipe would stall the server once full
    with log.open("w") as log_file:
        server = subprocess.Popen(
            [str(Path(sys.executable).with_name("mlflow")), "models", "serve", "-m", MODEL_URI]
            + ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1"],
            cwd=study.workdir,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the server and its uvicorn worker are stopped as one group
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, server, log)
        yield Served(url, study.workdir, study.tracking_uri, promote)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def wait_until_up(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"mlflow models serve exited {server.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"mlflow models serve did not answer {url}/ping within {START_TIMEOUT_S} s:\n{log.read_text()}")


def post(served: Served, body: bytes | dict[str, Any]) -> Answer:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{served.url}/invocations", data=data, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return Answer(response.status, json.loads(response.read()))
    except urllib.error.HTTPError as error:
        return Answer(error.code, json.loads(error.read()))


def val_images(synth_voc: Path, count: int) -> list[tuple[Path, np.ndarray]]:
    """The first `count` val images, as files and as the uint8 [H, W, 3] pixels the trainer decodes."""
    ids = (synth_voc / "ImageSets" / "Segmentation" / "val.txt").read_text().split()[:count]
    paths = [synth_voc / "JPEGImages" / f"{image_id}.jpg" for image_id in ids]
    return [(path, read_image(path).permute(1, 2, 0).numpy()) for path in paths]


def test_promote_prints_no_warning_and_no_colour(served: Served) -> None:
    assert "UserWarning" not in served.promote.stderr, served.promote.stderr
    assert "\x1b[" not in served.promote.stderr + served.promote.stdout
    assert f"alias 'champion' -> {MODEL_URI}" in served.promote.stdout


def test_a_batch_gets_the_masks_of_the_pyfunc_and_of_sweep_predict(
    served: Served, synth_voc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    (path, image), *_ = val_images(synth_voc, 1)
    answer = post(served, {"inputs": [image.tolist()]})
    assert answer.status == 200, answer.body
    served_masks = np.array(answer.body["predictions"])
    assert served_masks.shape == (1, *image.shape[:2]) and served_masks.dtype.kind == "i"
    assert served_masks.min() >= 0 and served_masks.max() <= 20
    monkeypatch.setenv("MLFLOW_TRACKING_URI", served.tracking_uri)  # restored after the test
    mlflow.set_tracking_uri(served.tracking_uri)
    pyfunc_masks = mlflow.pyfunc.load_model(MODEL_URI).predict(image[None])
    assert pyfunc_masks.dtype == np.uint8
    np.testing.assert_array_equal(served_masks, pyfunc_masks)
    predicted = CliRunner().invoke(
        sweep_cli,
        ["predict", "--model", MODEL_URI, "--tracking-uri", served.tracking_uri, str(path), "--out", str(tmp_path)],
        catch_exceptions=False,
    )
    assert predicted.exit_code == 0, predicted.output
    with Image.open(tmp_path / f"{path.stem}.png") as mask:
        np.testing.assert_array_equal(np.array(mask), served_masks[0])


def test_one_image_without_the_batch_axis_gets_one_mask(served: Served, synth_voc: Path) -> None:
    (_, first), *_ = val_images(synth_voc, 1)
    single = post(served, {"inputs": first.tolist()})
    batch = post(served, {"inputs": [first.tolist()]})
    assert single.status == 200 and batch.status == 200
    assert np.array(single.body["predictions"]).shape == first.shape[:2]
    assert single.body["predictions"] == batch.body["predictions"][0]


def test_the_logged_input_example_and_the_documented_request_are_answered(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", served.tracking_uri)  # restored after the test
    mlflow.set_tracking_uri(served.tracking_uri)
    info = mlflow.models.get_model_info(MODEL_URI)
    assert info.saved_input_example_info is not None
    assert info.saved_input_example_info["type"] == "ndarray"
    model = Path(mlflow.artifacts.download_artifacts(MODEL_URI))
    example = post(served, (model / "serving_input_example.json").read_bytes())
    assert example.status == 200, example.body
    assert np.array(example.body["predictions"]).shape == (1, 16, 16)
    documented = post(served, {"inputs": TWO_BY_TWO})
    assert documented.status == 200, documented.body
    assert np.array(documented.body["predictions"]).shape == (1, 2, 2)


ACCEPTED = "expected uint8 RGB images [N, H, W, 3] or one image [H, W, 3], values 0..255"


def bad_inputs(first: np.ndarray, second: np.ndarray) -> dict[str, tuple[list[Any], str]]:
    """Each bad request's `inputs` and the one line the server must answer, built on two val images."""
    too_bright = first.astype(np.int64)
    too_bright[0, 0, 0] = 300
    height, width = first.shape[:2]
    return {
        "float pixels 0..1": (
            [(first / 255).tolist()],
            f"{ACCEPTED}; got float64 pixels: scale 0..1 images by 255 and round to integers",
        ),
        "a value above 255": ([too_bright.tolist()], f"{ACCEPTED}; got values {first.min()}..300"),
        "images of two sizes": (
            [first.tolist(), second.tolist()],
            "the images in one request must all have the same size; send one request per image size",
        ),
        "grey images": ([first[..., 0].tolist()], f"{ACCEPTED}; got an array of shape (1, {height}, {width})"),
    }


@pytest.mark.parametrize("case", ["float pixels 0..1", "a value above 255", "images of two sizes", "grey images"])
def test_input_the_model_cannot_mean_gets_400_and_one_line(served: Served, synth_voc: Path, case: str) -> None:
    (_, first), (_, second) = val_images(synth_voc, 2)
    assert first.shape != second.shape, "the synthetic val images differ in size"
    inputs, message = bad_inputs(first, second)[case]
    answer = post(served, {"inputs": inputs})
    assert answer.status == 400
    assert answer.body["error_code"] == "INVALID_PARAMETER_VALUE"
    assert answer.body["message"] == message
