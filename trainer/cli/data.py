"""`trainer data ...`: thin commands over `trainer.data` (download, synth, prepare-sbd, stats, check).

Each command parses its options, calls one library function and prints the result; data errors surface as
`DatasetError`/`DownloadError`, which the root group prints as one line with exit code 1.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from trainer.cli.progress import download_progress
from trainer.constants import VOC_CLASSES
from trainer.data.check import check_split
from trainer.data.download import ARCHIVE_NAME, VOC_MD5, VOC_URLS, dataset_root, download_voc, is_complete
from trainer.data.sbd import prepare_sbd
from trainer.data.stats import split_stats
from trainer.data.synth import synthesize
from trainer.data.voc import MASK_DIRS
from trainer.errors import DatasetError

ROOT_PATH = click.Path(file_okay=False, path_type=Path)


def _check_md5(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not re.fullmatch(r"[0-9a-fA-F]{32}", value):
        raise click.BadParameter("must be 32 hexadecimal digits")
    return value.lower()


@click.group()
def data() -> None:
    """Download, generate, convert and inspect VOC-format data."""


@data.command()
@click.option(
    "--root", required=True, type=ROOT_PATH, help="Folder to download into; the data lands in ROOT/VOCdevkit/VOC2012."
)
@click.option(
    "--url", "urls", multiple=True, help="Mirror URL of VOCtrainval_11-May-2012.tar; repeat to try several in order."
)
@click.option("--md5", default=VOC_MD5, show_default=True, callback=_check_md5, help="Expected md5 of the tarball.")
@click.option("--progress/--no-progress", default=True, help="Show a progress bar (only on a terminal).")
def download(root: Path, urls: tuple[str, ...], md5: str, progress: bool) -> None:
    """Download (resumably), verify and extract Pascal VOC 2012 trainval."""
    if is_complete(root, md5):
        click.echo(f"already complete, nothing to do: {dataset_root(root)}")
        return
    with download_progress(ARCHIVE_NAME, show=progress) as report:
        voc_root = download_voc(root, urls=urls or VOC_URLS, md5=md5, progress=report)
    click.echo(f"dataset root: {voc_root}")


@data.command()
@click.option("--root", required=True, type=ROOT_PATH, help="VOC2012-layout folder to write.")
@click.option("--train", default=64, show_default=True, type=click.IntRange(min=1), help="Training images.")
@click.option("--val", default=32, show_default=True, type=click.IntRange(min=1), help="Validation images.")
@click.option(
    "--size", default=128, show_default=True, type=click.IntRange(min=16), help="Longer image side in pixels."
)
@click.option(
    "--seed", default=0, show_default=True, type=click.IntRange(min=0), help="Same seed, byte-identical files."
)
def synth(root: Path, train: int, val: int, size: int, seed: int) -> None:
    """Generate a small learnable synthetic dataset in the VOC 2012 layout."""
    voc_root = synthesize(root, train=train, val=val, size=size, seed=seed)
    click.echo(f"wrote {train} train + {val} val images to dataset root: {voc_root}")


@data.command("prepare-sbd")
@click.option(
    "--sbd", "sbd_dir", required=True, type=ROOT_PATH, help="SBD's benchmark_RELEASE (or its dataset) folder."
)
@click.option("--root", required=True, type=ROOT_PATH, help="VOC2012 dataset root (holds JPEGImages).")
def prepare_sbd_command(sbd_dir: Path, root: Path) -> None:
    """Convert SBD labels into SegmentationClassAug and write the trainaug split."""
    result = prepare_sbd(sbd_dir, root)
    click.echo(
        f"trainaug: {result.images} images ({result.converted} converted from SBD, {result.copied} copied from VOC, "
        f"{result.up_to_date} already present); split file: {result.split_file}"
    )


@data.command()
@click.option("--root", required=True, type=ROOT_PATH, help="VOC2012 dataset root.")
@click.option("--split", required=True, type=click.Choice(sorted(MASK_DIRS)), help="Split to count.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def stats(root: Path, split: str, as_json: bool) -> None:
    """Pixels per class, ignored pixels and median-frequency class weights of a split."""
    result = split_stats(root, split)
    if as_json:
        click.echo(json.dumps(result.to_dict()))
        return
    labelled = sum(result.pixels_per_class) or 1
    table = Table(title=f"{split}: {result.images} images, {result.ignored_pixels:,} ignored (255) pixels")
    for name, justify in (
        ("label", "right"),
        ("class", "left"),
        ("pixels", "right"),
        ("share", "right"),
        ("weight", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for label, (name, pixels, weight) in enumerate(
        zip(VOC_CLASSES, result.pixels_per_class, result.class_weights, strict=True)
    ):
        table.add_row(str(label), name, f"{pixels:,}", f"{pixels / labelled:.2%}", f"{weight:.3f}")
    Console().print(table)


@data.command()
@click.argument("root", type=ROOT_PATH)
@click.option(
    "--split",
    "splits",
    required=True,
    multiple=True,
    type=click.Choice(sorted(MASK_DIRS)),
    help="Split to check; repeat for several.",
)
def check(root: Path, splits: tuple[str, ...]) -> None:
    """Decode every image and mask of each --split under the VOC2012 ROOT and list every bad file.

    One line per problem on stderr, then exit 1; a clean split prints a summary and exits 0, so a sweep's
    data can be checked before it starts.
    """
    problems = images = 0
    for split in dict.fromkeys(splits):  # each split once, in the order given
        result = check_split(root, split)
        for problem in result.problems:
            click.echo(str(problem), err=True)
        problems += len(result.problems)
        images += result.images
    names = list(dict.fromkeys(splits))
    checked = f"{images} image/mask pairs of split{'s' if len(names) > 1 else ''} {', '.join(names)}"
    if problems:
        raise DatasetError(
            root,
            f"{problems} bad file(s) in {checked}, listed above; "
            "replace or regenerate them, or remove their IDs from the split file",
        )
    click.echo(f"{root}: {checked} checked: every file decodes, labels are 0..20 or 255, sizes match")
