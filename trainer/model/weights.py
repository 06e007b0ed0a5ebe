"""Loading weights into a DeepLabV3+: torchvision's ImageNet checkpoints, or a local file.

Every failure (no cache and no network, an unreadable file, keys that do not match) raises
`WeightsError` with a message that says what to do, never a bare RuntimeError from `load_state_dict`.
Files are always read with ``torch.load(..., weights_only=True)``: nothing is unpickled.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import Tensor, nn

from trainer.errors import WeightsError
from trainer.model.backbones import BackboneSpec

_MAX_KEYS_SHOWN = 5


def imagenet_cache_path(spec: BackboneSpec) -> Path:
    """Where torch.hub caches `spec`'s ImageNet checkpoint: ``<torch.hub.get_dir()>/checkpoints/<file>``.

    `torch.hub.get_dir()` follows ``TORCH_HOME`` (default ``~/.cache/torch``) at call time.
    """
    filename = os.path.basename(urlparse(str(spec.imagenet_weights.url)).path)
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def _describe_keys(keys: list[str]) -> str:
    shown = ", ".join(keys[:_MAX_KEYS_SHOWN])
    more = f" (+{len(keys) - _MAX_KEYS_SHOWN} more)" if len(keys) > _MAX_KEYS_SHOWN else ""
    return f"{shown}{more}" if keys else "none"


def _load_strict(module: nn.Module, state_dict: dict[str, Tensor], what: str, source: str) -> None:
    """`module.load_state_dict(strict=True)`, with mismatches reported as one readable WeightsError."""
    expected = module.state_dict()
    # Older torchvision checkpoints lack BN's num_batches_tracked; BatchNorm fills it in on load.
    missing = [key for key in expected if key not in state_dict and not key.endswith("num_batches_tracked")]
    unexpected = [key for key in state_dict if key not in expected]
    mismatched = [
        f"{key} {tuple(state_dict[key].shape)} vs {tuple(value.shape)}"
        for key, value in expected.items()
        if key in state_dict and state_dict[key].shape != value.shape
    ]
    if missing or unexpected or mismatched:
        raise WeightsError(
            f"{source} does not match the {what}: missing keys: {_describe_keys(missing)}; "
            f"unexpected keys: {_describe_keys(unexpected)}; "
            f"shape mismatches (file vs model): {_describe_keys(mismatched)}"
        )
    try:
        module.load_state_dict(state_dict, strict=True)
    except RuntimeError as error:
        raise WeightsError(f"{source} does not match the {what}: {error}") from error


def classification_to_backbone(spec: BackboneSpec, state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
    """Map a torchvision classification state_dict onto the backbone's keys, dropping the ImageNet head."""
    mapped: dict[str, Tensor] = {}
    for key, value in state_dict.items():
        if key.startswith(spec.classifier_prefixes) or not key.startswith(spec.classification_prefix):
            continue
        mapped[key[len(spec.classification_prefix) :]] = value
    return mapped


def load_imagenet_weights(backbone: nn.Module, spec: BackboneSpec, *, progress: bool = False) -> None:
    """Load torchvision's ImageNet weights for `spec` into `backbone`, from the torch.hub cache or the web.

    Raises WeightsError naming the exact cache path and URL when the file is neither cached nor
    downloadable (e.g. no internet), or when the cached file is corrupt.
    """
    weights = spec.imagenet_weights
    cache_path = imagenet_cache_path(spec)
    try:
        state_dict = weights.get_state_dict(progress=progress, check_hash=True, weights_only=True)
    except (OSError, RuntimeError, pickle.UnpicklingError) as error:
        raise WeightsError(
            f"could not load ImageNet weights {weights} for backbone {spec.name!r} ({error}). "
            f"Download {weights.url} on a machine with internet and place it at {cache_path} "
            f"(the torch.hub cache; set TORCH_HOME to move it), or pass model.weights_path"
        ) from error
    _load_strict(backbone, classification_to_backbone(spec, state_dict), "backbone", str(cache_path))


def _read_state_dict(path: Path) -> dict[str, Tensor]:
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, pickle.UnpicklingError, EOFError) as error:
        raise WeightsError(f"cannot read weights file {path} as a tensor state_dict: {error}") from error
    if not isinstance(loaded, dict) or not all(isinstance(value, Tensor) for value in loaded.values()):
        raise WeightsError(f"weights file {path} holds a {type(loaded).__name__}, not a state_dict of tensors")
    return loaded


def load_weights_file(model: nn.Module, spec: BackboneSpec, path: str | Path) -> str:
    """Load a local weights file into `model` (a DeepLabV3Plus) and return which kind it was.

    Two formats are recognised by their keys:

    - ``"deeplabv3plus"``: a full `DeepLabV3Plus` state_dict (keys under ``backbone.`` and ``head.``),
      loaded strictly into the whole model (same backbone, output stride is irrelevant, same num_classes);
    - ``"classification"``: a torchvision classification state_dict of `spec`'s network (e.g. ImageNet),
      whose feature-extractor keys are loaded strictly into ``model.backbone``; the head stays random.
    """
    path = Path(path)
    state_dict = _read_state_dict(path)
    if any(key.startswith("head.") for key in state_dict):
        _load_strict(model, state_dict, "DeepLabV3Plus model", str(path))
        return "deeplabv3plus"
    backbone_state = classification_to_backbone(spec, state_dict)
    _load_strict(
        model.get_submodule("backbone"),
        backbone_state,
        f"{spec.name} backbone (as a classification state_dict)",
        str(path),
    )
    return "classification"
