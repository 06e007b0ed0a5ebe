#!/bin/sh
# Entry point of the compose `worker`: take one free GPU slot on this host, then `exec sweep "$@"` on it.
#
# Docker gives every replica of a service the same devices (it has no per-replica GPU assignment:
# docker/compose#11863), so `--scale worker=N` with `count: 1` would put all N workers on GPU 0.
# Instead each replica sees every GPU and the replicas share a lock folder: a worker takes the first
# free slot, spreading over the GPUs before doubling up. With 4 GPUs, workers 1-4 get GPUs 0-3; with
# WORKERS_PER_GPU=2, workers 5-8 share them. The lock belongs to the worker process, so it is released
# when the worker exits, however it exits.
#
# Environment: WORKERS_PER_GPU (default 1), GPU_LOCK_DIR (a volume all replicas mount), GPU_COUNT
# (default: the GPUs that torch sees).
set -eu

lock_dir="${GPU_LOCK_DIR:-/var/lock/segsweep-gpus}"
per_gpu="${WORKERS_PER_GPU:-1}"
gpu_count="${GPU_COUNT:-$(python -c 'import torch; print(torch.cuda.device_count())')}"
if [ "$gpu_count" -lt 1 ]; then
  echo "claim-gpu: this container sees no GPU (is the NVIDIA Container Toolkit installed?)" >&2
  exit 1
fi
mkdir -p "$lock_dir"

slot=0
while [ "$slot" -lt "$per_gpu" ]; do
  gpu=0
  while [ "$gpu" -lt "$gpu_count" ]; do
    exec 9>"$lock_dir/gpu$gpu-slot$slot.lock"
    if flock --nonblock 9; then
      echo "claim-gpu: GPU $gpu, slot $((slot + 1)) of $per_gpu" >&2
      export CUDA_VISIBLE_DEVICES="$gpu"
      exec sweep "$@"
    fi
    gpu=$((gpu + 1))
  done
  slot=$((slot + 1))
done
echo "claim-gpu: all $((gpu_count * per_gpu)) slots are taken ($gpu_count GPUs x WORKERS_PER_GPU=$per_gpu);" \
  "scale down, or raise WORKERS_PER_GPU in .env to pack more trials per GPU" >&2
exit 1
