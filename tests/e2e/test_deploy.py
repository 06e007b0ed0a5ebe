"""The deployment files, checked by parsing and against the real CLIs (no Docker engine or cluster here).

docker-compose.yml (+ Dockerfile, .env.example, docker/), deploy/slurm/sweep.sbatch and deploy/k8s/:
services, dependencies and healthchecks; no literal secret; ports on loopback; the GPU reservation and
the per-replica GPU claim; and every worker command is a valid `sweep` invocation of a valid study.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement

from sweep.cli import cli
from sweep.spec.study_file import load_study_spec

ROOT = Path(__file__).resolve().parents[2]
SBATCH = ROOT / "deploy" / "slurm" / "sweep.sbatch"
K8S = ROOT / "deploy" / "k8s"
PASSWORD_FROM_ENV = re.compile(r"\$\{POSTGRES_PASSWORD:\?[^}]+\}")
URL_CREDENTIALS = re.compile(r"://(?P<user>[^:/@\s]+):(?P<password>[^@\s]+)@")
FAKE_ENV = {"POSTGRES_USER": "sweep", "POSTGRES_PASSWORD": "s3cret-from-dotenv"}


def load_compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose's `${VAR}`, `${VAR:-default}` and `${VAR:?error}` (the forms the compose file uses)."""

    def substitute(match: re.Match[str]) -> str:
        name, operator, argument = match.group(1), match.group(2), match.group(3)
        if env.get(name):
            return env[name]
        if operator == ":?":
            raise KeyError(f"{name}: {argument}")
        return argument or ""

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:-|:\?)([^}]*))?\}", substitute, text)


def strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, Mapping):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)


def parse_sweep_args(args: list[str]) -> dict[str, Any]:
    """Parse `sweep ARGS` against the real CLI without running it; returns the subcommand's parameters."""
    with cli.make_context("sweep", list(args)) as group_context:
        name, command, rest = cli.resolve_command(group_context, list(args))
        assert name is not None and command is not None
        return command.make_context(name, rest, parent=group_context).params


def sbatch_sweep_args() -> list[str]:
    """The job's `sweep ...` arguments, with `${VAR:-default}` resolved to its default."""
    lines = [line for line in SBATCH.read_text().splitlines() if re.match(r"\s*(srun\s+)?sweep\s", line)]
    assert len(lines) == 1, lines
    words = [interpolate(word, {}) for word in shlex.split(lines[0])]
    return words[words.index("sweep") + 1 :]


def k8s_documents(name: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((K8S / name).read_text()) if doc]


def k8s_worker() -> dict[str, Any]:
    (job,) = k8s_documents("sweep-job.yaml")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    return container


# --- docker-compose.yml ------------------------------------------------------------------------------


def test_stack_services_depend_on_healthy_postgres_and_mlflow() -> None:
    services = load_compose()["services"]
    assert set(services) == {"postgres", "mlflow", "worker", "optuna-dashboard"}
    assert services["postgres"]["image"].startswith("postgres:15")
    assert "-h 127.0.0.1" in services["postgres"]["healthcheck"]["test"][1], "TCP: healthy only after the init script"
    assert "/health" in " ".join(services["mlflow"]["healthcheck"]["test"])
    assert services["mlflow"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert services["worker"]["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "mlflow": {"condition": "service_healthy"},
    }
    assert services["optuna-dashboard"]["profiles"] == ["dashboard"]
    assert services["optuna-dashboard"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert {"postgres-data:/var/lib/postgresql/data", "mlflow-artifacts:/mlartifacts"} <= {
        volume for service in services.values() for volume in service.get("volumes", [])
    }


def test_optuna_and_mlflow_use_separate_databases_that_the_init_script_creates() -> None:
    services = load_compose()["services"]
    optuna_url = services["worker"]["environment"]["SWEEP_STORAGE"]
    mlflow_backend = services["mlflow"]["environment"]["MLFLOW_BACKEND_STORE_URI"]
    assert optuna_url.rsplit("/", 1)[1] == "optuna" and mlflow_backend.rsplit("/", 1)[1] == "mlflow"
    assert services["optuna-dashboard"]["environment"]["SWEEP_STORAGE"] == optuna_url
    init = (ROOT / "docker" / "postgres-init.sql").read_text()
    assert "CREATE DATABASE optuna;" in init and "CREATE DATABASE mlflow;" in init
    mount = next(v for v in services["postgres"]["volumes"] if "postgres-init.sql" in v)
    assert mount.startswith("./docker/postgres-init.sql:/docker-entrypoint-initdb.d/")


def test_no_literal_secret_every_password_comes_from_dotenv() -> None:
    compose = load_compose()
    assert PASSWORD_FROM_ENV.fullmatch(compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"])
    # Resolved with a made-up .env, every URL's password is the one from that .env: none is written in.
    urls = [
        match
        for text in strings(compose["services"])
        for match in URL_CREDENTIALS.finditer(interpolate(text, FAKE_ENV))
    ]
    assert len(urls) == 3, "the Optuna URL (worker, dashboard) and the MLflow backend"
    assert {(match["user"], match["password"]) for match in urls} == {
        (FAKE_ENV["POSTGRES_USER"], FAKE_ENV["POSTGRES_PASSWORD"])
    }
    for service in compose["services"].values():
        for argument in strings([service.get("command", []), service.get("entrypoint", [])]):
            assert "@" not in argument, f"credentials on a command line show in ps: {argument}"
    dotenv = dict(
        line.split("=", 1) for line in (ROOT / ".env.example").read_text().splitlines() if line and line[0] != "#"
    )
    assert dotenv["POSTGRES_PASSWORD"] == "", "no usable default password"
    interpolated = set(re.findall(r"\$\{([A-Z_]+)", (ROOT / "docker-compose.yml").read_text()))
    assert interpolated <= set(dotenv), f"undocumented in .env.example: {interpolated - set(dotenv)}"
    with pytest.raises(KeyError, match="set POSTGRES_PASSWORD in .env"):
        interpolate(compose["services"]["worker"]["environment"]["SWEEP_STORAGE"], {"POSTGRES_PASSWORD": ""})


def test_published_ports_are_on_loopback_and_workers_publish_none() -> None:
    services = load_compose()["services"]
    published = {name: service["ports"] for name, service in services.items() if "ports" in service}
    assert set(published) == {"mlflow", "optuna-dashboard"}
    for ports in published.values():
        for port in ports:
            assert re.fullmatch(r"127\.0\.0\.1:\$\{[A-Z_]+:-\d+\}:\d+", port), port
    assert "ports" not in services["worker"] and "container_name" not in services["worker"], "--scale worker=N"


def test_each_worker_replica_claims_a_gpu_of_the_reservation() -> None:
    worker = load_compose()["services"]["worker"]
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    # `count: 1` would give GPU 0 to every replica (docker/compose#11863): all GPUs, then one claimed each.
    assert devices == [{"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}]
    assert worker["entrypoint"] == ["claim-gpu"]
    lock_dir = worker["environment"]["GPU_LOCK_DIR"]
    assert f"gpu-locks:{lock_dir}" in worker["volumes"], "the replicas share one lock folder"
    assert worker["shm_size"] and "./runs:/app/runs" in worker["volumes"]
    assert "COPY --chmod=755 docker/claim-gpu.sh /usr/local/bin/claim-gpu" in (ROOT / "Dockerfile").read_text()


def test_a_stopped_worker_gets_the_grace_period_of_a_kubernetes_pod_and_an_init_that_passes_sigterm_on() -> None:
    worker = load_compose()["services"]["worker"]
    (job,) = k8s_documents("sweep-job.yaml")
    grace_s = job["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert worker["stop_grace_period"] == "5m" and grace_s == 5 * 60
    assert worker["init"] is True


def test_mlflow_server_runs_the_client_image_and_takes_its_database_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mlflow.cli import server
    from mlflow.server.security_utils import is_allowed_host_header

    services = load_compose()["services"]
    mlflow, worker = services["mlflow"], services["worker"]
    assert (mlflow["build"], mlflow["image"]) == (worker["build"], worker["image"]) == (".", "segsweep:local")
    assert services["optuna-dashboard"]["image"] == worker["image"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    pinned = re.search(r"^ARG MLFLOW_VERSION=(\S+)$", dockerfile, re.MULTILINE)
    assert pinned and '"mlflow==${MLFLOW_VERSION}"' in dockerfile
    (declared,) = re.findall(r'"(mlflow[<>=!~].*?)"', (ROOT / "pyproject.toml").read_text())
    assert Requirement(declared).specifier.contains(pinned[1]), f"{pinned[1]} outside pyproject's {declared}"

    assert mlflow["entrypoint"] == ["mlflow", "server"]
    backend = interpolate(mlflow["environment"]["MLFLOW_BACKEND_STORE_URI"], FAKE_ENV)
    monkeypatch.setenv("MLFLOW_BACKEND_STORE_URI", backend)
    params = server.make_context("server", list(mlflow["command"])).params
    assert params["backend_store_uri"] == backend, "mlflow server reads it from the environment"
    assert params["serve_artifacts"] and params["host"] == "0.0.0.0"
    assert f"mlflow-artifacts:{params['artifacts_destination']}" in mlflow["volumes"]
    allowed = params["allowed_hosts"].split(",")
    tracking_host = worker["environment"]["MLFLOW_TRACKING_URI"].removeprefix("http://")
    assert tracking_host == "mlflow:5000"
    for host in (tracking_host, "localhost:5000", "127.0.0.1:5000"):
        assert is_allowed_host_header(allowed, host), host
    assert not is_allowed_host_header(allowed, "attacker.example:5000")


def test_dashboard_reads_the_storage_url_from_the_environment() -> None:
    dashboard = load_compose()["services"]["optuna-dashboard"]
    assert dashboard["entrypoint"] == ["python", "-c"]
    (code,) = dashboard["command"]
    compile(code, "optuna-dashboard", "exec")
    assert "os.environ['SWEEP_STORAGE']" in code and "host='0.0.0.0', port=8080" in code


def test_dockerfile_installs_the_project_with_postgres_once() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.count("pip install") == 1 and '".[postgres]"' in dockerfile
    assert "COPY pyproject.toml README.md LICENSE ./" in dockerfile, "pyproject names README.md and LICENSE"
    assert re.search(r"^FROM \$\{PYTORCH_IMAGE\}$", dockerfile, re.MULTILINE)
    assert re.search(r"^ARG PYTORCH_IMAGE=pytorch/pytorch:\S+-cuda", dockerfile, re.MULTILINE)


# --- docker/claim-gpu.sh -------------------------------------------------------------------------------


def start_replica(tmp_path: Path, gpus: int, per_gpu: int) -> subprocess.Popen[str]:
    """docker/claim-gpu.sh with a stub `sweep` that prints its GPU and arguments, then waits for stdin."""
    stub = tmp_path / "bin" / "sweep"
    if not stub.exists():
        stub.parent.mkdir()
        stub.write_text('#!/bin/sh\necho "$CUDA_VISIBLE_DEVICES $*"\nread _\n')
        stub.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{stub.parent}{os.pathsep}{os.environ['PATH']}",
        "GPU_LOCK_DIR": str(tmp_path / "locks"),
        "GPU_COUNT": str(gpus),
        "WORKERS_PER_GPU": str(per_gpu),
    }
    command = ["sh", str(ROOT / "docker" / "claim-gpu.sh"), "run", "studies/smoke.yaml", "--quiet"]
    return subprocess.Popen(
        command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_replicas_spread_over_the_gpus_then_double_up_and_free_their_slot_on_exit(tmp_path: Path) -> None:
    replicas = []
    try:
        for gpu in (0, 1, 0, 1):  # one after the other: a replica holds its slot once it prints
            replicas.append(start_replica(tmp_path, gpus=2, per_gpu=2))
            assert replicas[-1].stdout.readline() == f"{gpu} run studies/smoke.yaml --quiet\n"  # type: ignore[union-attr]
        full = start_replica(tmp_path, gpus=2, per_gpu=2)
        _, error = full.communicate(timeout=30)
        assert full.returncode == 1 and "all 4 slots are taken (2 GPUs x WORKERS_PER_GPU=2)" in error

        replicas[1].communicate("", timeout=30)  # the worker on GPU 1 exits: its slot is free again
        replicas.append(start_replica(tmp_path, gpus=2, per_gpu=2))
        assert replicas[-1].stdout.readline() == "1 run studies/smoke.yaml --quiet\n"  # type: ignore[union-attr]
    finally:
        for replica in replicas:
            replica.communicate("", timeout=30)


def test_a_container_without_gpus_says_so(tmp_path: Path) -> None:
    replica = start_replica(tmp_path, gpus=0, per_gpu=1)
    _, error = replica.communicate(timeout=30)
    assert replica.returncode == 1 and "sees no GPU" in error


# --- SLURM and Kubernetes ------------------------------------------------------------------------------


def test_sbatch_is_an_array_of_single_gpu_tasks_without_a_literal_secret() -> None:
    text = SBATCH.read_text()
    directives = dict(re.findall(r"^#SBATCH --([a-z-]+)=(\S+)$", text, re.MULTILINE))
    assert directives["array"] == "0-7" and directives["gres"] == "gpu:1" and directives["ntasks"] == "1"
    code = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    assert not any(URL_CREDENTIALS.search(line) for line in code)
    subprocess.run(["bash", "-n", str(SBATCH)], check=True)


def test_sbatch_passes_the_urls_from_a_private_env_file_to_sweep(tmp_path: Path) -> None:
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "activate").write_text(f'PATH="{tmp_path / "bin"}:$PATH"\n')
    (tmp_path / "bin").mkdir()
    for name, body in {"srun": 'exec "$@"', "sweep": 'echo "$SWEEP_STORAGE $MLFLOW_TRACKING_URI $*"'}.items():
        (tmp_path / "bin" / name).write_text(f"#!/bin/sh\n{body}\n")
        (tmp_path / "bin" / name).chmod(0o755)
    env_file = tmp_path / "segsweep.env"
    env_file.write_text("SWEEP_STORAGE=postgresql+psycopg2://u:p@db:5432/optuna\nMLFLOW_TRACKING_URI=http://mlf:5000\n")
    env_file.chmod(0o600)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "SLURM_SUBMIT_DIR": str(tmp_path),
        "SEGSWEEP_ENV_FILE": str(env_file),
    }

    done = subprocess.run(["bash", str(SBATCH)], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert (
        done.stdout.splitlines()[-1]
        == "postgresql+psycopg2://u:p@db:5432/optuna http://mlf:5000 run studies/voc_focal.yaml --quiet"
    )
    assert "warning" not in done.stderr

    env_file.chmod(0o644)
    warned = subprocess.run(["bash", str(SBATCH)], env=env, capture_output=True, text=True, timeout=30)
    assert "can be read by others; chmod 600 it" in warned.stderr
    env_file.unlink()
    missing = subprocess.run(["bash", str(SBATCH)], env=env, capture_output=True, text=True, timeout=30)
    assert missing.returncode != 0 and "set SWEEP_STORAGE in" in missing.stderr


def test_k8s_indexed_job_runs_one_gpu_worker_per_pod_with_the_urls_from_the_secret() -> None:
    (job,) = k8s_documents("sweep-job.yaml")
    assert (job["apiVersion"], job["kind"]) == ("batch/v1", "Job")
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed" and spec["completions"] == spec["parallelism"] == 8
    container = k8s_worker()
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    (secret,) = k8s_documents("secret.example.yaml")
    assert container["envFrom"] == [{"secretRef": {"name": secret["metadata"]["name"]}}]
    claims = {
        v["persistentVolumeClaim"]["claimName"]
        for v in spec["template"]["spec"]["volumes"]
        if "persistentVolumeClaim" in v
    }
    assert claims == {doc["metadata"]["name"] for doc in k8s_documents("volumes.yaml")}
    assert {"medium": "Memory", "sizeLimit": "8Gi"} == next(
        v["emptyDir"] for v in spec["template"]["spec"]["volumes"] if v["name"] == "dshm"
    )

    (kustomization,) = k8s_documents("kustomization.yaml")
    assert all((K8S / resource).is_file() for resource in kustomization["resources"])
    assert "secret.example.yaml" not in kustomization["resources"], "the real Secret is kept out of the repository"
    assert [image["name"] for image in kustomization["images"]] == [container["image"]]


def test_k8s_secret_example_holds_only_placeholder_urls_that_validate() -> None:
    (secret,) = k8s_documents("secret.example.yaml")
    assert secret["kind"] == "Secret" and set(secret["stringData"]) == {"SWEEP_STORAGE", "MLFLOW_TRACKING_URI"}
    storage, tracking = secret["stringData"]["SWEEP_STORAGE"], secret["stringData"]["MLFLOW_TRACKING_URI"]
    credentials = URL_CREDENTIALS.search(storage)
    assert credentials and credentials["password"] == "EXAMPLE-PASSWORD"
    assert "postgres.example:" in storage and tracking.startswith("http://mlflow.example:")
    spec = load_study_spec(ROOT / "studies" / "smoke.yaml").with_overrides(storage=storage, tracking_uri=tracking)
    assert spec.storage_url == storage and spec.tracking_uri == tracking


# --- the worker commands of all three ------------------------------------------------------------------

WORKER_COMMANDS = {
    "compose": lambda: load_compose()["services"]["worker"]["command"],
    "slurm": sbatch_sweep_args,
    "k8s": lambda: k8s_worker()["args"],
}


@pytest.mark.parametrize("deployment", sorted(WORKER_COMMANDS))
def test_worker_command_is_a_valid_sweep_run_of_a_valid_study(deployment: str) -> None:
    args = WORKER_COMMANDS[deployment]()
    assert args[0] == "run"
    params = parse_sweep_args(args)
    assert params["quiet"] and params["storage"] is None and params["tracking_uri"] is None, "URLs: environment only"
    spec = load_study_spec(ROOT / params["study_file"])
    assert spec.study.name == "voc-focal"


def test_sweep_run_takes_the_urls_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    import sweep.run.study

    seen = {}

    def capture(spec: Any, *_: Any, **__: Any) -> None:
        seen.update(storage=spec.storage_url, tracking=spec.tracking_uri)
        raise SystemExit(0)

    monkeypatch.setattr(sweep.run.study, "run_study", capture)
    env = {"SWEEP_STORAGE": "postgresql+psycopg2://u:p@db:5432/optuna", "MLFLOW_TRACKING_URI": "http://mlflow:5000"}
    CliRunner().invoke(cli, ["run", str(ROOT / "studies" / "smoke.yaml"), "--quiet"], env=env)
    assert seen == {"storage": env["SWEEP_STORAGE"], "tracking": env["MLFLOW_TRACKING_URI"]}
