"""`python -m sweep.cli`: how `sweep run --workers` starts its worker processes."""

from sweep.cli import main

main()
