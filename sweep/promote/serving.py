"""The MLflow pyfunc model that `sweep promote` registers, logged as code (nothing is pickled).

MLflow copies this file into the model and runs it on load; `set_model` hands over the model object.
`load_context` rebuilds the network with `trainer.build_model` and loads the checkpoint artifact with
`weights_only=True`, so a registered model works at any input size and loading it unpickles nothing.

`predict` takes a batch of uint8 RGB images [N, H, W, 3] (the registered signature) and returns uint8 VOC
labels [N, H, W]; called directly, it also accepts one image [H, W, 3] and returns [H, W].
"""

from __future__ import annotations

import numpy as np
import torch
from mlflow.models import set_model
from mlflow.pyfunc.model import PythonModel, PythonModelContext


class DeepLabV3PlusModel(PythonModel):
    """Whole-image semantic segmentation with a trained DeepLabV3+ checkpoint."""

    def load_context(self, context: PythonModelContext) -> None:
        from trainer.predict import load_model

        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.model, _ = load_model(context.artifacts["checkpoint"], self.device)

    # `model_input` stays unannotated: MLflow reads predict's type hints as an input schema.
    def predict(self, context, model_input, params=None) -> np.ndarray:  # type: ignore[no-untyped-def]
        from trainer.predict import predict_mask

        images = np.asarray(model_input, dtype=np.uint8)
        single = images.ndim == 3
        batch = images[None] if single else images
        labels = np.stack(
            [predict_mask(self.model, torch.from_numpy(image).permute(2, 0, 1), self.device) for image in batch]
        )
        return labels[0] if single else labels


set_model(DeepLabV3PlusModel())
