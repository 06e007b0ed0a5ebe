# syntax=docker/dockerfile:1
# The project image. Sweep workers, the MLflow server and optuna-dashboard all run from it, so the
# MLflow server is the same release as its clients, and the dashboard reads the schema of the same
# Optuna that the workers write.
#   docker build -t segsweep .          (docker compose builds it for you)
# The base image is pinned by its exact version tag. A digest (pytorch/pytorch@sha256:...) pins it
# harder; pass one with --build-arg PYTORCH_IMAGE=... once you have pulled the tag and read its digest.
# checkov:skip=CKV_DOCKER_7: the FROM line names an ARG whose default is an exact version tag, never latest; checkov does not read ARG defaults
# checkov:skip=CKV_DOCKER_2: no image-wide HEALTHCHECK: workers are batch processes with nothing to probe; docker-compose.yml checks the MLflow server's /health per service
ARG PYTORCH_IMAGE=pytorch/pytorch:2.9.1-cuda12.8-cudnn9-runtime
FROM ${PYTORCH_IMAGE}

# pyproject allows any MLflow 3.x from 3.7 on; the image pins one release for server and workers alike.
# Hosts outside Docker (SLURM, other machines) should install this same MLflow release.
ARG MLFLOW_VERSION=3.17.2
ARG OPTUNA_DASHBOARD_VERSION=0.21.0
# The user every process of the image runs as: not root, and a UID above 10000, which no account of a
# typical host has. deploy/k8s/sweep-job.yaml runs its pods as the same UID and GID.
ARG APP_UID=10001

ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

COPY pyproject.toml README.md LICENSE ./
COPY trainer ./trainer
COPY sweep ./sweep
# One install: the project with its PostgreSQL driver (the `postgres` extra), the pinned MLflow and the dashboard.
# The project comes from this source tree, so it has no version to pin; its dependencies are the ranges in
# pyproject.toml, and the two packages that must match across hosts are pinned.
# hadolint ignore=DL3013
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install ".[postgres]" "mlflow==${MLFLOW_VERSION}" "optuna-dashboard==${OPTUNA_DASHBOARD_VERSION}"

COPY studies ./studies
COPY configs ./configs
COPY --chmod=755 docker/claim-gpu.sh /usr/local/bin/claim-gpu

# What the user writes belongs to it: the mount points of docker-compose.yml's named volumes (GPU locks,
# MLflow artifacts), which a new volume copies, and data/ and runs/ for a `docker run` without mounts.
# Bind mounts (compose's ./data and ./runs) keep their owners on the host: give them to this UID.
RUN groupadd --gid "${APP_UID}" segsweep \
    && useradd --uid "${APP_UID}" --gid segsweep --create-home --shell /usr/sbin/nologin segsweep \
    && mkdir -p /var/lock/segsweep-gpus /mlartifacts /app/data /app/runs \
    && chown segsweep:segsweep /var/lock/segsweep-gpus /mlartifacts /app/data /app/runs
USER ${APP_UID}:${APP_UID}

ENTRYPOINT ["sweep"]
CMD ["--help"]
