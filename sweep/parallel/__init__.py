"""Many worker processes on one machine: `sweep run --workers N` or `--gpus 0,1 --workers-per-gpu K`.

Owns planning the workers (`workers`), the supervisor that starts and stops them (`supervisor`), the
JSON-line events they send (`events`) and the live board that draws them (`board`). Each worker runs the
single-process loop of `sweep.run`.
May import: everything of sweep but the CLI.
"""
