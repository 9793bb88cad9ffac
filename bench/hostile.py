"""Run every hostile-feed case (issue 6) against real servers on 127.0.0.1 and report.

    python bench/hostile.py            # every case
    python bench/hostile.py slow xml   # some groups or case names

One line per case (PASS/FAIL/SKIP, group, name, time, what happened), then `N passed, M failed`.
The cases live in tests/hostile_cases.py, shared with tests/test_hostile.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from hostile_cases import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
