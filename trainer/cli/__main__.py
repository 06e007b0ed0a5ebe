"""`python -m trainer.cli`: the `trainer` command without its console script (benchmarks/gpu.sh uses it)."""

from trainer.cli import main

main()
