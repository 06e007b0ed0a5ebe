"""docs/reliability.md's bad-input table lists every case of `bad_input_cases.py` once, in order.

`tests/e2e/test_bad_input.py` runs each case and checks its row against what the command printed.
"""

from __future__ import annotations

from bad_input_cases import CASES, REGENERATE, documented_rows


def test_the_doc_lists_every_case_once_in_order() -> None:
    assert len(CASES) >= 40 and len({case.id for case in CASES}) == len(CASES)
    assert list(documented_rows()) == [case.id for case in CASES], REGENERATE
