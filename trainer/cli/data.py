"""`trainer data ...` commands (placeholder until the data module lands)."""

import click


@click.group()
def data() -> None:
    """Download, generate, convert and inspect VOC-format data."""
