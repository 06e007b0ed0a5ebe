"""Data loaders whose augmentation is a pure function of (seed, epoch, index).

`EpochSampler` yields ``(index, sample_seed)`` pairs; `SeededAugmentation` seeds Python's `random` and
torch's CPU generator with ``sample_seed`` before loading the sample. The batches are therefore identical
for any ``num_workers``, and a run resumed at epoch ``e``
sees exactly the samples and augmentations of the uninterrupted run. The caller's RNG state is untouched.

A file found corrupt while loading raises `DatasetError` naming it in the training process, whatever
``num_workers`` is (`DatasetErrorLoader`).
"""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import Any, Protocol

import torch
from torch.utils.data import DataLoader, Dataset, Sampler, default_collate

from trainer.constants import IGNORE_INDEX
from trainer.data.worker_sockets import check_worker_sockets
from trainer.errors import DatasetError


def derive_seed(*parts: int) -> int:
    """A well-mixed 63-bit seed from integers (blake2b), stable across processes and Python versions."""
    digest = hashlib.blake2b(":".join(str(int(part)) for part in parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


class EpochSampler(Sampler[tuple[int, int]]):
    """Yields ``(index, sample_seed)`` over ``range(num_samples)``, reshuffled per epoch like DistributedSampler.

    The order is ``torch.randperm`` from a generator seeded with ``derive_seed(seed, epoch)`` (or 0..n-1 when
    ``shuffle=False``); ``sample_seed = derive_seed(seed, epoch, index)``. Call `set_epoch` before each epoch.
    """

    def __init__(self, num_samples: int, *, seed: int, shuffle: bool = True) -> None:
        if num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
        self.num_samples, self.seed, self.shuffle = num_samples, seed, shuffle
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose order and augmentation seeds the next iteration yields."""
        self.epoch = epoch

    def order(self) -> list[int]:
        """The epoch's index order."""
        if not self.shuffle:
            return list(range(self.num_samples))
        generator = torch.Generator().manual_seed(derive_seed(self.seed, self.epoch))
        return torch.randperm(self.num_samples, generator=generator).tolist()

    def __iter__(self) -> Iterator[tuple[int, int]]:
        for index in self.order():
            yield index, derive_seed(self.seed, self.epoch, index)

    def __len__(self) -> int:
        return self.num_samples


class SeededAugmentation(Dataset[Any]):
    """Wraps a dataset so that ``wrapper[(index, sample_seed)]`` is ``dataset[index]`` with seeded randomness.

    Python's `random` and torch's CPU generator are seeded with ``sample_seed`` for the call and restored
    afterwards (``torch.random.fork_rng(devices=[])``), so a loader with ``num_workers=0`` leaves the
    training process's RNG exactly as it was.
    """

    def __init__(self, dataset: Dataset[Any]) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int, int]) -> Any:
        index, sample_seed = key
        python_state = random.getstate()
        try:
            with torch.random.fork_rng(devices=[]):
                torch.default_generator.manual_seed(sample_seed)
                random.seed(sample_seed)
                return self.dataset[index]
        finally:
            random.setstate(python_state)


def pad_collate(batch: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack (image [C, H, W], mask [H, W]) pairs of different sizes, padding bottom/right to the largest.

    Images are padded with 0 and masks with 255 (ignored by the losses and the metrics).
    """
    height = max(image.shape[-2] for image, _ in batch)
    width = max(image.shape[-1] for image, _ in batch)
    first_image, first_mask = batch[0]
    images = first_image.new_zeros((len(batch), first_image.shape[0], height, width))
    masks = first_mask.new_full((len(batch), height, width), IGNORE_INDEX)
    for i, (image, mask) in enumerate(batch):
        images[i, :, : image.shape[-2], : image.shape[-1]] = image
        masks[i, : mask.shape[-2], : mask.shape[-1]] = mask
    return images, masks


class CarryDatasetErrors(Dataset[Any]):
    """Wraps a dataset so that a `DatasetError` it raises is returned as the sample instead.

    PyTorch rebuilds an exception raised in a loader worker from its text alone (`type(message)`), so a
    `DatasetError`, which takes a path and a message, would reach the training process as a RuntimeError
    holding a traceback. Returned as a value, it is pickled whole; `_CollateOrCarry` passes it on as the
    batch and `DatasetErrorLoader` raises it in the training process, naming the file.
    """

    def __init__(self, dataset: Dataset[Any]) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: Any) -> Any:
        try:
            return self.dataset[key]
        except DatasetError as error:
            return error


class _CollateOrCarry:
    """`collate(batch)`, or the first `DatasetError` in the batch (a class, so that spawned workers can pickle it)."""

    def __init__(self, collate: Callable[[Any], Any]) -> None:
        self.collate = collate

    def __call__(self, batch: Sequence[Any]) -> Any:
        failed = [sample for sample in batch if isinstance(sample, DatasetError)]
        return failed[0] if failed else self.collate(batch)


class DatasetErrorLoader(DataLoader[Any]):
    """A DataLoader over `CarryDatasetErrors` that raises a carried `DatasetError` where its batch would be.

    Before raising, it stops its worker processes: persistent workers left with batches in flight would
    otherwise be stopped only when the iterator is garbage-collected, which waits about 10 s for them.
    """

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]  # a generator, not DataLoader's iterator class
        batches = super().__iter__()
        for batch in batches:
            if isinstance(batch, DatasetError):
                _stop_workers(batches)
                self._iterator = None  # the next epoch starts fresh workers
                raise batch
            yield batch


def _stop_workers(batches: Iterator[Any]) -> None:
    """Stop the worker processes of a DataLoader iterator now. torch has no public call for it: its
    multi-process iterator's `_shutdown_workers` is what its own `__del__` runs; a single-process
    iterator has none and needs none."""
    shutdown = getattr(batches, "_shutdown_workers", None)
    if shutdown is not None:
        shutdown()


def default_num_workers() -> int:
    """Loader processes to use by default: the usable CPUs, capped at 4."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return min(4, cpus)


def make_train_loader(
    dataset: Dataset[Any],
    *,
    batch_size: int,
    seed: int,
    num_workers: int | None = None,
    pin_memory: bool | None = None,
    collate_fn: Callable[[list[Any]], Any] = default_collate,
) -> DataLoader[Any]:
    """Shuffled, seeded training batches (``drop_last=True``); call ``loader.sampler.set_epoch(e)`` per epoch.

    With the default ``collate_fn``, the dataset's transforms must give every sample one size (e.g.
    `train_transforms` crops).
    ``num_workers=None`` means `default_num_workers()`; ``pin_memory=None`` means "if CUDA is available".
    Raises `TempDirError` where workers could not send batches back (`check_worker_sockets`).
    """
    workers = default_num_workers() if num_workers is None else num_workers
    check_worker_sockets(workers)
    return DatasetErrorLoader(
        CarryDatasetErrors(SeededAugmentation(dataset)),
        batch_size=batch_size,
        collate_fn=_CollateOrCarry(collate_fn),
        sampler=EpochSampler(len(dataset), seed=seed),  # type: ignore[arg-type]
        num_workers=workers,
        pin_memory=torch.cuda.is_available() if pin_memory is None else pin_memory,
        drop_last=True,
        persistent_workers=workers > 0,
        # DataLoader draws its workers' base seed from this generator, not from the training RNG.
        generator=torch.Generator().manual_seed(derive_seed(seed, -1)),
    )


class SameSizeBatchSampler(Sampler[list[int]]):
    """Batches of at most ``batch_size`` indices whose images all have one size, so none needs padding.

    Indices are grouped by ``sizes[i]`` (any hashable, e.g. (H, W)); groups come in the order their first
    image appears in the split, indices in split order within a group, and every index comes exactly once.
    A network in eval mode then sees each image as batch 1 would, so the metrics equal batch 1's.
    """

    def __init__(self, sizes: Sequence[Hashable], batch_size: int) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        groups: dict[Hashable, list[int]] = {}
        for index, size in enumerate(sizes):
            groups.setdefault(size, []).append(index)
        self.batches = [
            group[i : i + batch_size] for group in groups.values() for i in range(0, len(group), batch_size)
        ]

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


class ImageSizes(Protocol):
    """A dataset that can tell each image's (H, W) without decoding it (`VOCSegmentation.image_size`)."""

    def __len__(self) -> int: ...

    def image_size(self, index: int) -> tuple[int, int]: ...


def make_eval_loader(dataset: Dataset[Any], *, batch_size: int = 1, num_workers: int | None = None) -> DataLoader[Any]:
    """Whole images, each batch of one image size (`SameSizeBatchSampler`), so batched metrics equal batch 1's.

    With ``batch_size > 1`` the dataset must offer ``image_size(index)`` (see `ImageSizes`); batches then
    follow the groups of sizes rather than split order, which the metrics do not depend on. Raises
    `TempDirError` where workers could not send batches back (`check_worker_sockets`).
    """
    workers = default_num_workers() if num_workers is None else num_workers
    check_worker_sockets(workers)
    if batch_size == 1:
        batches: Sampler[list[int]] = SameSizeBatchSampler([0] * len(dataset), 1)  # type: ignore[arg-type]
    elif hasattr(dataset, "image_size"):
        sized: ImageSizes = dataset  # type: ignore[assignment]
        batches = SameSizeBatchSampler([sized.image_size(i) for i in range(len(sized))], batch_size)
    else:
        raise TypeError(
            f"batch_size {batch_size} needs a dataset with image_size(index); {type(dataset).__name__} has none"
        )
    return DatasetErrorLoader(
        CarryDatasetErrors(dataset),
        batch_sampler=batches,
        num_workers=workers,
        collate_fn=_CollateOrCarry(pad_collate),
        pin_memory=torch.cuda.is_available(),
        persistent_workers=workers > 0,
        generator=torch.Generator().manual_seed(0),  # keeps the caller's RNG untouched
    )
