"""`trainer.interrupt` with real signals to a real process, and `trainer train` stopped mid-run."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml
from helpers import tiny_train

from trainer.interrupt import StopRequest, TrainingInterrupted, exit_code_for

# Waits inside the block without ever checking the request, as a long step or an upload would.
BUSY_PROCESS = textwrap.dedent(
    """
    import time
    from trainer.interrupt import stop_on_signals

    with stop_on_signals() as stop:
        print("ready", flush=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            time.sleep(0.01)
    print("left the block", flush=True)
    """
)


def start_busy() -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", BUSY_PROCESS], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and process.stdout.readline() == "ready\n"
    return process


def test_the_first_signal_only_asks_and_the_second_exits_at_once() -> None:
    process = start_busy()
    process.send_signal(signal.SIGINT)
    time.sleep(0.5)
    assert process.poll() is None, "the first signal only sets the request"
    sent = time.monotonic()
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=10)
    assert process.returncode == 130 and time.monotonic() - sent < 5
    assert "SIGINT: stopping after the current step (send it again to exit at once)" in stderr
    assert "SIGINT again: exiting now; nothing recorded is lost" in stderr
    assert "left the block" not in stdout, "no cleanup ran: the exit is immediate"


def test_sigterm_then_sigint_also_exits_at_once_with_the_second_signals_code() -> None:
    process = start_busy()
    process.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=10)
    assert process.returncode == exit_code_for(signal.SIGINT) == 130


def test_a_request_raises_with_the_epochs_to_resume_from() -> None:
    stop = StopRequest()
    stop.raise_if_requested(epoch=3, resume_epoch=2)  # nothing asked: nothing happens
    stop.request(signal.SIGTERM)
    with pytest.raises(TrainingInterrupted, match="SIGTERM during epoch 3; epochs 1-2 are saved") as raised:
        stop.raise_if_requested(epoch=3, resume_epoch=2)
    assert raised.value.exit_code == 143 and raised.value.resume_epoch == 2


@pytest.mark.slow
def test_trainer_train_stops_on_sigterm_and_resumes(synth_voc: Path, tmp_path: Path) -> None:
    config = tmp_path / "train.yaml"
    config.write_text(yaml.safe_dump(tiny_train(synth_voc, epochs=4, checkpoint={"dir": str(tmp_path / "ckpt")})))
    command = [str(Path(sys.executable).with_name("trainer")), "train", str(config), "--json"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not (tmp_path / "ckpt" / "last.pt").exists():  # epoch 1 is saved: the run is in epoch 2
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stderr
    assert "Traceback" not in stderr
    assert (
        "interrupted: SIGTERM during epoch 2; epoch 1 is saved; run the same command again to resume at epoch 2"
        in stderr
    )

    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert '"epochs_run": 4' in rerun.stdout.splitlines()[-1]
