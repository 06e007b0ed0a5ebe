# A sweep worker: the project and its PostgreSQL driver on a CUDA-enabled PyTorch image.
FROM pytorch/pytorch:2.9.1-cuda12.8-cudnn9-runtime
WORKDIR /app
COPY pyproject.toml README.md ./
COPY trainer ./trainer
COPY sweep ./sweep
COPY studies ./studies
COPY configs ./configs
RUN pip install --no-cache-dir -e '.[postgres]'
ENTRYPOINT ["sweep"]
