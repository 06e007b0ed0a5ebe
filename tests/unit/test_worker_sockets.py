"""A temp folder too long for the loader workers' sockets fails the loader at once, naming the folder."""

from __future__ import annotations

import multiprocessing.util
import sys

import pytest

from trainer.data.loader import make_train_loader
from trainer.data.worker_sockets import TempDirError, check_worker_sockets, worker_socket_path

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Unix socket paths are checked on Linux")


def _temp_folder(monkeypatch: pytest.MonkeyPatch, length: int) -> str:
    """Make multiprocessing's temp folder a path of `length` characters."""
    folder = "/tmp/" + "d" * (length - len("/tmp/"))
    monkeypatch.setattr(multiprocessing.util, "get_temp_dir", lambda: folder)
    return folder


def test_the_longest_socket_path_linux_takes_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    _temp_folder(monkeypatch, 107 - len("/listener-XXXXXXXX"))  # 89 + 18 = 107 characters
    assert len(worker_socket_path()) == 107
    check_worker_sockets(2)


def test_one_character_more_is_refused_naming_the_folder_and_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _temp_folder(monkeypatch, 90)
    with pytest.raises(TempDirError) as raised:
        make_train_loader(list(range(4)), batch_size=2, seed=0, num_workers=1)  # type: ignore[arg-type]
    assert str(raised.value) == (
        f"{folder}: loader workers cannot send batches from this temp folder: their socket path is 108 "
        "characters, over the 107 Linux takes; set TMPDIR to a shorter folder (e.g. /tmp), or data.num_workers to 0"
    )
    assert raised.value.exit_code == 1


def test_no_workers_need_no_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    _temp_folder(monkeypatch, 300)
    check_worker_sockets(0)
