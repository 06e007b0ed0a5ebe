"""The MLflow pyfunc model that `sweep promote` registers, logged as code (nothing is pickled).

MLflow copies this file into the model and runs it on load; `set_model` hands over the model object.
`load_context` rebuilds the network with `trainer.build_model` and loads the checkpoint artifact with
`weights_only=True`, so a registered model works at any input size and loading it unpickles nothing.

`predict` takes a batch of RGB images [N, H, W, 3] of integers 0..255 and returns uint8 VOC labels [N, H, W];
one image [H, W, 3] gives labels [H, W]. It checks its input itself (`images_from`), because MLflow's
checks come too late or too loosely: `mlflow models serve` casts a JSON body to the signature's dtype
before the model sees it (float pixels 0..1 would become 0, an all-background mask) and refuses a single
image against a 4-D tensor spec with an error that echoes the whole array. The signature therefore
declares an object tensor, which MLflow passes through as parsed, and every refusal is one line with
HTTP status 400.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from mlflow.exceptions import MlflowException
from mlflow.models import set_model
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc.model import PythonModel, PythonModelContext

PIXEL_MAX = 255
ACCEPTED = "uint8 RGB images [N, H, W, 3] or one image [H, W, 3], values 0..255"


class InputRefused(MlflowException):
    """Input the model cannot mean: HTTP 400 (INVALID_PARAMETER_VALUE) whose message is one line.

    MLflow's scoring server rewrites the message of an `MlflowException` raised by `predict` to start with
    the whole input (`Failed to predict data '<array>'`, a thousand characters for one small image); the
    message here keeps the line it was raised with, which is what the client reads.
    """

    def __init__(self, line: str) -> None:
        self._line = line
        super().__init__(line, error_code=INVALID_PARAMETER_VALUE)

    @property
    def message(self) -> str:
        return self._line

    @message.setter
    def message(self, _rewritten: str) -> None:
        """Ignored: see the class docstring."""


def images_from(model_input: Any) -> tuple[np.ndarray, bool]:
    """`(images [N, H, W, 3] uint8, single)` from what a client sent; `single` when it was one image [H, W, 3].

    Accepts any integer array (a JSON body arrives as Python ints) of values 0..255. Raises `InputRefused`
    for floats, values outside 0..255, images of different sizes in one batch, and other shapes.
    """
    values = np.asarray(model_input)
    if values.dtype == object:  # a JSON body, parsed against the object tensor spec
        try:
            values = np.array(values.tolist())
        except ValueError:
            raise InputRefused(
                "the images in one request must all have the same size; send one request per image size"
            ) from None
    if values.ndim not in (3, 4) or values.shape[-1] != 3 or values.size == 0:
        raise InputRefused(f"expected {ACCEPTED}; got an array of shape {values.shape}")
    if values.dtype.kind == "f":
        raise InputRefused(
            f"expected {ACCEPTED}; got {values.dtype} pixels: scale 0..1 images by 255 and round to integers"
        )
    if values.dtype.kind not in "ui":
        raise InputRefused(f"expected {ACCEPTED}; got {values.dtype} values")
    if values.min() < 0 or values.max() > PIXEL_MAX:
        raise InputRefused(f"expected {ACCEPTED}; got values {values.min()}..{values.max()}")
    single = values.ndim == 3
    images = values[None] if single else values
    return images.astype(np.uint8, copy=False), single


class DeepLabV3PlusModel(PythonModel):
    """Whole-image semantic segmentation with a trained DeepLabV3+ checkpoint."""

    def load_context(self, context: PythonModelContext) -> None:
        from trainer.predict import load_model

        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.model, _ = load_model(context.artifacts["checkpoint"], self.device)

    # MLflow infers no schema from an `np.ndarray` hint (the signature stays the one `sweep promote` logs),
    # and without any hint it warns, in colour, on every import of this file.
    def predict(
        self, context: PythonModelContext, model_input: np.ndarray, params: dict[str, Any] | None = None
    ) -> np.ndarray:
        from trainer.predict import predict_mask

        images, single = images_from(model_input)
        labels = np.stack(
            [predict_mask(self.model, torch.from_numpy(image).permute(2, 0, 1), self.device) for image in images]
        )
        return labels[0] if single else labels


set_model(DeepLabV3PlusModel())
