"""Database URLs as MLflow and Optuna should see them: a concern of the sweep layer, which opens both."""

from __future__ import annotations

from pathlib import Path

_SQLITE = "sqlite:///"


def absolute_sqlite_url(url: str) -> str:
    """`sqlite:///runs/x.db` becomes `sqlite:////abs/cwd/runs/x.db`; every other URL is returned as is.

    MLflow caches its store per URL string for the life of the process, so a relative path would keep
    pointing into whichever folder was current the first time it was used.
    """
    if not url.startswith(_SQLITE) or url.startswith(_SQLITE + "/") or url == _SQLITE + ":memory:":
        return url
    return _SQLITE + str(Path(url.removeprefix(_SQLITE)).resolve())
