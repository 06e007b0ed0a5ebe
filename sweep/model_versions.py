"""`RegistryStore`: the model-registry reads and writes that the promotion gate needs beyond `TrackingStore`.

It is a `TrackingStore` (one client, the same error handling on opening); it adds the version that an
alias points to, the run a version was made from, and setting a version's tags.
"""

from __future__ import annotations

from collections.abc import Mapping

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, ErrorCode

from sweep.tracking import TrackingStore


class RegistryStore(TrackingStore):
    """A tracking store seen as a model registry."""

    def alias_version(self, name: str, alias: str) -> str | None:
        """The version `name@alias` points to, or None when the model or the alias does not exist."""
        try:
            version = self._client.get_model_version_by_alias(name, alias)
        except MlflowException as error:
            if error.error_code == ErrorCode.Name(RESOURCE_DOES_NOT_EXIST):
                return None
            raise
        return str(version.version)

    def version_run_id(self, name: str, version: str) -> str:
        """The run that version `version` of `name` was registered from."""
        return str(self._client.get_model_version(name, version).run_id)

    def set_version_tags(self, name: str, version: str, tags: Mapping[str, str]) -> None:
        """Set (or overwrite) each of `tags` on the version."""
        for key, value in tags.items():
            self._client.set_model_version_tag(name, version, key, value)
