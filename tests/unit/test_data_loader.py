"""Seeded loaders: batches are a pure function of (seed, epoch), whatever num_workers is."""

from __future__ import annotations

import pickle
import random
import shutil
from pathlib import Path

import pytest
import torch

from trainer.data.loader import (
    EpochSampler,
    SameSizeBatchSampler,
    SeededAugmentation,
    make_eval_loader,
    make_train_loader,
    pad_collate,
)
from trainer.data.presets import eval_transforms, train_transforms
from trainer.data.voc import VOCSegmentation
from trainer.errors import DatasetError


def _epoch_batches(synth_voc: Path, *, num_workers: int, epoch: int, seed: int = 3) -> list[torch.Tensor]:
    dataset = VOCSegmentation(synth_voc, "train", transforms=train_transforms(crop_size=32, photometric=True))
    loader = make_train_loader(dataset, batch_size=4, seed=seed, num_workers=num_workers, pin_memory=False)
    loader.sampler.set_epoch(epoch)
    return [torch.cat([images.flatten(), masks.flatten().float()]) for images, masks in loader]


def test_same_batches_for_any_num_workers_and_epochs_differ(synth_voc: Path) -> None:
    torch.manual_seed(123)
    random.seed(123)
    before = (torch.get_rng_state(), random.getstate())
    single = _epoch_batches(synth_voc, num_workers=0, epoch=1)
    assert torch.equal(torch.get_rng_state(), before[0]) and random.getstate() == before[1]  # caller RNG untouched
    multi = _epoch_batches(synth_voc, num_workers=2, epoch=1)
    assert len(single) == len(multi) == 2
    assert all(torch.equal(a, b) for a, b in zip(single, multi, strict=True))
    assert all(
        torch.equal(a, b) for a, b in zip(single, _epoch_batches(synth_voc, num_workers=0, epoch=1), strict=True)
    )
    other_epoch = _epoch_batches(synth_voc, num_workers=0, epoch=2)
    assert not torch.equal(single[0], other_epoch[0])
    other_seed = _epoch_batches(synth_voc, num_workers=0, epoch=1, seed=4)
    assert not torch.equal(single[0], other_seed[0])


def test_sampler_order_seeds_and_resume() -> None:
    sampler = EpochSampler(10, seed=7)
    sampler.set_epoch(0)
    epoch0 = list(sampler)
    assert sorted(index for index, _ in epoch0) == list(range(10))
    sampler.set_epoch(1)
    epoch1 = list(sampler)
    assert [i for i, _ in epoch0] != [i for i, _ in epoch1]
    assert dict(epoch0)[3] != dict(epoch1)[3]  # each (epoch, index) gets its own augmentation seed
    sampler.set_epoch(1)
    assert list(sampler) == epoch1 and len(sampler) == 10, "an epoch's order is a pure function of (seed, epoch)"
    assert [i for i, _ in EpochSampler(5, seed=0, shuffle=False)] == [0, 1, 2, 3, 4]


def test_seeded_augmentation_is_pure() -> None:
    dataset = SeededAugmentation([None] * 3)  # type: ignore[arg-type]

    class Draw:
        def __getitem__(self, index: int) -> tuple[float, float]:
            return random.random(), torch.rand(()).item()

    dataset.dataset = Draw()  # type: ignore[assignment]
    assert dataset[(0, 42)] == dataset[(2, 42)] != dataset[(0, 43)]


def test_pad_collate_pads_with_0_and_255() -> None:
    batch = [
        (torch.ones(3, 2, 4), torch.zeros(2, 4, dtype=torch.long)),
        (torch.ones(3, 3, 1), torch.ones(3, 1, dtype=torch.long)),
    ]
    images, masks = pad_collate(batch)
    assert images.shape == (2, 3, 3, 4) and masks.shape == (2, 3, 4)
    assert images[0, :, 2].sum() == 0 and (masks[0, 2] == 255).all()
    assert (masks[1, :, 1:] == 255).all() and (masks[1, :, 0] == 1).all()


def test_same_size_batches_cover_every_index_once() -> None:
    sizes = [(2, 3), (3, 2), (2, 3), (2, 3), (5, 5), (3, 2), (2, 3)]
    batches = list(SameSizeBatchSampler(sizes, 2))
    assert batches == [[0, 2], [3, 6], [1, 5], [4]]
    assert sorted(i for batch in batches for i in batch) == list(range(len(sizes)))
    assert all(len({sizes[i] for i in batch}) == 1 for batch in batches)
    with pytest.raises(ValueError, match="batch_size"):
        SameSizeBatchSampler(sizes, 0)


def test_eval_loader_batches_whole_images_of_one_size(synth_voc: Path) -> None:
    dataset = VOCSegmentation(synth_voc, "val", transforms=eval_transforms())
    seen = []
    for images, masks in make_eval_loader(dataset, batch_size=4, num_workers=0):
        for image, mask in zip(images, masks, strict=True):
            index = next(i for i in range(len(dataset)) if torch.equal(dataset[i][1], mask))
            assert torch.equal(image, dataset[index][0]) and dataset.image_size(index) == tuple(mask.shape)
            seen.append(index)
    assert sorted(seen) == list(range(len(dataset)))
    with pytest.raises(TypeError, match="image_size"):
        make_eval_loader([dataset[0]], batch_size=2, num_workers=0)  # type: ignore[arg-type]


def test_dataset_error_pickles_with_its_path_and_message() -> None:
    error = pickle.loads(pickle.dumps(DatasetError(Path("a/b.jpg"), "corrupt")))
    assert isinstance(error, DatasetError) and error.path == Path("a/b.jpg") and str(error) == "a/b.jpg: corrupt"


@pytest.mark.parametrize("num_workers", [0, 2])
@pytest.mark.parametrize("which", ["train", "eval"])
def test_a_corrupt_file_found_mid_epoch_raises_dataset_error_naming_it(
    which: str, num_workers: int, synth_voc: Path, tmp_path: Path
) -> None:
    """A worker's DatasetError reaches the training process as itself, not as a RuntimeError with a traceback."""
    root = Path(shutil.copytree(synth_voc, tmp_path / "VOC2012"))
    split = "train" if which == "train" else "val"
    image_id = (root / "ImageSets/Segmentation" / f"{split}.txt").read_text().split()[-1]
    corrupt = root / "JPEGImages" / f"{image_id}.jpg"
    corrupt.write_bytes(corrupt.read_bytes()[:300])
    if which == "train":
        dataset = VOCSegmentation(root, split, transforms=train_transforms(crop_size=32))
        loader = make_train_loader(dataset, batch_size=2, seed=0, num_workers=num_workers, pin_memory=False)
    else:
        loader = make_eval_loader(VOCSegmentation(root, split, transforms=eval_transforms()), num_workers=num_workers)
    with pytest.raises(DatasetError, match="corrupt or unreadable image") as raised:
        for _ in loader:
            pass
    assert raised.value.path == corrupt
