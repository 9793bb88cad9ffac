"""Issue 6: hostile feeds and flaky servers, one test per case of tests/hostile_cases.py.

The cases (and what each one proves) live in that table, which bench/hostile.py runs too.
"""

from __future__ import annotations

import pytest

from hostile_cases import CASES, run_case


@pytest.mark.parametrize("case", CASES, ids=[f"{c.group}-{c.name}" for c in CASES])
def test_hostile(case, tmp_path):
    verdict, what = run_case(case, tmp_path)
    if verdict == "skip":
        pytest.skip(what)
    assert verdict == "pass", what
    print(what)
