"""deploy/k8s as a cluster receives it: `kubectl kustomize deploy/k8s`, checked against the Kubernetes API.

Every built object (and the example Secret, which is applied on its own) validates against the API schemas of
Kubernetes 1.30 with kubernetes-validate in strict mode, where a field the API does not know is an error; a
kind without a schema is an error here too (the tool's CLI only warns). Then the fields that preemption, the
GPU and the non-root image rely on are asserted on the built Job, against the code they must agree with.

kubectl is Debian's (`.ci/run` installs it), kubernetes-validate comes with the `deploy` extra; without them
these tests fail under CI=true and are skipped elsewhere. No cluster is needed.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from services import unavailable

from sweep.storage.retry import OUTAGE_S
from sweep.tracking.outages import FLUSH
from trainer.errors import ConfigError
from trainer.interrupt import exit_code_for

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.30.0"
STEP_AND_CHECKPOINT_S = 60
"""The step in progress plus an epoch-end checkpoint write that SIGTERM may catch under way. Measured on an
H200 (ResNet-101, 513 px, batch 16, bf16, AdamW): 56 ms a step, last.pt 713 MB and best.pt 238 MB written
in 1.2 s to local disk; the same 0.95 GB takes 10-30 s on shared network storage at 30-100 MB/s."""


def kubectl() -> str:
    found = shutil.which("kubectl")
    if found is None:
        unavailable("kubectl is not on PATH; install Debian's `kubernetes-client` package (`.ci/run` does)")
    return found


def build(folder: Path) -> list[dict[str, Any]]:
    """`kubectl kustomize folder`: the objects that `kubectl apply -k folder` would send."""
    done = subprocess.run([kubectl(), "kustomize", str(folder)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return [document for document in yaml.safe_load_all(done.stdout) if document]


def schema_errors(document: dict[str, Any]) -> str | None:
    """None when `document` validates strictly against the Kubernetes API; else one line naming the field."""
    try:
        from kubernetes_validate import utils
    except ImportError:
        unavailable("kubernetes-validate is not installed; pip install -e '.[deploy]'")
    name = f"{document.get('kind')}/{document.get('metadata', {}).get('name')}"
    try:
        utils.validate(document, KUBERNETES_VERSION, strict=True)
    except utils.ValidationError as error:
        field = ".".join(str(part) for part in error.path)
        return f"{name}: {field}: {error.message}"
    except utils.SchemaNotFoundError as error:
        return f"{name}: {error.message}"
    return None


@pytest.fixture(scope="module")
def built() -> list[dict[str, Any]]:
    return build(K8S)


def job_of(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (job,) = [item for item in objects if item["kind"] == "Job"]
    return job


def test_every_built_object_and_the_example_secret_validate_strictly(built: list[dict[str, Any]]) -> None:
    assert sorted(f"{item['kind']}/{item['metadata']['name']}" for item in built) == [
        "Job/segsweep",
        "NetworkPolicy/segsweep-workers",
        "PersistentVolumeClaim/segsweep-data",
        "PersistentVolumeClaim/segsweep-runs",
    ]
    (secret,) = yaml.safe_load_all((K8S / "secret.example.yaml").read_text())
    assert [schema_errors(item) for item in [*built, secret]] == [None] * 5


# Each breaks one field of the Job; the expected error names it.
BREAKAGES = {
    "unknown field": (
        "      terminationGracePeriodSeconds: 300\n",
        "      terminationGracePeriodSecond: 300\n",
        "Job/segsweep: spec.template.spec: Additional properties are not allowed "
        "('terminationGracePeriodSecond' was unexpected)",
    ),
    "wrong type": (
        "  backoffLimitPerIndex: 3\n",
        "  backoffLimitPerIndex: three\n",
        "Job/segsweep: spec.backoffLimitPerIndex: 'three' is not of type 'integer', 'null'",
    ),
    "missing required field": (
        '            status: "True"',
        "            # status left out",
        "Job/segsweep: spec.podFailurePolicy.rules.0.onPodConditions.0: 'status' is a required property",
    ),
    "unknown API version": (
        "apiVersion: batch/v1\n",
        "apiVersion: batch/v2\n",
        "Job/segsweep: Couldn't find schema for kind Job with api version batch/v2 for kubernetes version 1.30",
    ),
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_a_broken_copy_of_the_manifests_fails_naming_the_field(tmp_path: Path, breakage: str) -> None:
    good, bad, expected = BREAKAGES[breakage]
    copy = shutil.copytree(K8S, tmp_path / "k8s")
    job_file = copy / "sweep-job.yaml"
    assert job_file.read_text().count(good) == 1
    job_file.write_text(job_file.read_text().replace(good, bad))
    assert [schema_errors(item) for item in build(copy) if item["kind"] == "Job"] == [expected]


def test_preemption_restarts_the_pod_without_counting_a_failure(built: list[dict[str, Any]]) -> None:
    spec = job_of(built)["spec"]
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    sigterm_exit = exit_code_for(signal.SIGTERM)
    assert sigterm_exit == 143
    assert spec["podFailurePolicy"]["rules"] == [
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
        {
            "action": "Ignore",
            "onExitCodes": {"containerName": container["name"], "operator": "In", "values": [sigterm_exit]},
        },
        {
            "action": "FailJob",
            "onExitCodes": {"containerName": container["name"], "operator": "In", "values": [ConfigError.exit_code]},
        },
    ]
    assert pod["restartPolicy"] == "Never", "podFailurePolicy requires it"
    assert spec["completionMode"] == "Indexed" and spec["backoffLimitPerIndex"] == 3
    assert "backoffLimit" not in spec, "with backoffLimitPerIndex the Job-wide limit defaults to unlimited"
    assert spec["podReplacementPolicy"] == "Failed", "no second pod of an index while the first one stops"
    assert pod["shareProcessNamespace"] is True, "the worker is not PID 1, which would ignore an early SIGTERM"


def test_grace_period_covers_the_stop_and_the_sweeps_waits_for_its_services(built: list[dict[str, Any]]) -> None:
    grace = job_of(built)["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    # After SIGTERM: the step and a checkpoint write under way, the trial's records in the Optuna storage
    # (which may wait out an outage of OUTAGE_S), then the MLflow run's end (FLUSH patience).
    assert grace == 300 >= STEP_AND_CHECKPOINT_S + OUTAGE_S + FLUSH.total_s


def test_each_pod_takes_one_gpu_and_runs_the_image_as_its_non_root_user(built: list[dict[str, Any]]) -> None:
    pod = job_of(built)["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert container["image"] == "registry.example/segsweep:0.1.0"

    image_uid = re.search(r"^ARG APP_UID=(\d+)$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert image_uid and re.search(r"^USER \$\{APP_UID\}:\$\{APP_UID\}$", (ROOT / "Dockerfile").read_text(), re.M)
    security = pod["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["runAsUser"] == security["runAsGroup"] == int(image_uid[1]) > 10000
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    # With a read-only root, everything written goes to a volume: /tmp (and HOME in it) is an emptyDir.
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert set(mounts) == {"/app/data", "/app/runs", "/dev/shm", "/tmp"}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    assert {"name": "HOME", "value": "/tmp"} in container["env"]


def test_ingress_to_the_workers_is_closed_and_each_security_waiver_says_why(built: list[dict[str, Any]]) -> None:
    job = job_of(built)
    (policy,) = [item for item in built if item["kind"] == "NetworkPolicy"]
    assert policy["spec"] == {
        "podSelector": {"matchLabels": job["spec"]["template"]["metadata"]["labels"]},
        "policyTypes": ["Ingress"],
    }
    waivers = {key: value for key, value in job["metadata"]["annotations"].items() if key.startswith("checkov.io/")}
    assert len(waivers) == 4
    for waiver in waivers.values():
        assert re.fullmatch(r"CKV_K8S_\d+=\S.{40,}", waiver), waiver
