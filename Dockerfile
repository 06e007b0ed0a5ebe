# syntax=docker/dockerfile:1
# The project image. Sweep workers, the MLflow server and optuna-dashboard all run from it, so the
# MLflow server is the same release as its clients, and the dashboard reads the schema of the same
# Optuna that the workers write.
#   docker build -t segsweep .          (docker compose builds it for you)
ARG PYTORCH_IMAGE=pytorch/pytorch:2.9.1-cuda12.8-cudnn9-runtime
FROM ${PYTORCH_IMAGE}

# pyproject allows any MLflow 3.x from 3.7 on; the image pins one release for server and workers alike.
# Hosts outside Docker (SLURM, other machines) should install this same MLflow release.
ARG MLFLOW_VERSION=3.17.2
ARG OPTUNA_DASHBOARD_VERSION=0.21.0

ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

COPY pyproject.toml README.md LICENSE ./
COPY trainer ./trainer
COPY sweep ./sweep
# One install: the project with its PostgreSQL driver (the `postgres` extra), the pinned MLflow and the dashboard.
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install ".[postgres]" "mlflow==${MLFLOW_VERSION}" "optuna-dashboard==${OPTUNA_DASHBOARD_VERSION}"

COPY studies ./studies
COPY configs ./configs
COPY --chmod=755 docker/claim-gpu.sh /usr/local/bin/claim-gpu

ENTRYPOINT ["sweep"]
CMD ["--help"]
