"""`data.augment_on: device`: config rules and the encoded dataset.

That training with it is reproducible whatever the loader workers is in `tests/e2e/test_training_runs.py`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image

from trainer import config_from_dict
from trainer.data.crop_params import CropSampler
from trainer.data.device_augment import DeviceAugmentation
from trainer.data.encoded import EncodedVOCSegmentation, collate_encoded
from trainer.errors import ConfigError, DatasetError


def test_photometric_distortion_is_refused_on_the_device(synth_voc: Path) -> None:
    with pytest.raises(ConfigError, match="set photometric to false, or augment_on to cpu") as caught:
        config_from_dict({"data": {"root": str(synth_voc), "augment_on": "device", "photometric": True}})
    assert caught.value.key == "data.augment_on"


def test_a_batch_decodes_to_the_training_steps_input(synth_voc: Path) -> None:
    dataset = EncodedVOCSegmentation(synth_voc, "train", crops=CropSampler(48))
    batch = collate_encoded([dataset[index] for index in range(3)])
    images, masks = DeviceAugmentation(crop_size=48, device=torch.device("cpu"))(batch)
    assert images.dtype == torch.uint8 and images.shape == (3, 3, 48, 48)
    assert masks.dtype == torch.long and masks.shape == (3, 48, 48)
    assert set(masks.unique().tolist()) <= set(range(21)) | {255}
    assert images.float().std() > 10, "decoded pixels, not padding"


def test_an_image_that_is_no_jpeg_is_named(synth_voc: Path, tmp_path: Path) -> None:
    root = Path(shutil.copytree(synth_voc, tmp_path / "VOC2012"))
    dataset = EncodedVOCSegmentation(root, "train", crops=CropSampler(48))
    path = dataset.files.image_path(0)
    with Image.open(path) as image:
        image.save(path, format="PNG")
    with pytest.raises(DatasetError, match="is a PNG file; data.augment_on: device decodes JPEG only") as caught:
        dataset[0]
    assert caught.value.path == path
