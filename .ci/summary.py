"""Turn trial's closing summary in a test log into one line: `N passed, N failed[, N skipped]`.

Usage: python3 .ci/summary.py LOGFILE

trial closes with "PASSED (successes=N)" or "FAILED (failures=a, errors=b,
unexpectedSuccesses=c, skips=d, expectedFailures=e, successes=f)" (counts
that are zero are left out). failed = failures + errors + unexpectedSuccesses,
passed = successes, skipped = skips + expectedFailures. Exits 0 only when the
last such summary says PASSED and at least one test passed; 1 when the tests
failed or none ran, 2 when the log has no trial summary at all.
"""

from __future__ import annotations

import re
import sys
from typing import Optional

SUMMARY = re.compile(r"^(PASSED|FAILED)(?: \(((?:\w+=\d+)(?:, \w+=\d+)*)\))?$")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
FAILED_KINDS = ("failures", "errors", "unexpectedSuccesses")
SKIPPED_KINDS = ("skips", "expectedFailures")


def last_summary(text: str) -> Optional[tuple[str, dict[str, int]]]:
    """The status and counts of the last trial summary line in C{text}."""
    found = None
    for line in text.splitlines():
        match = SUMMARY.match(ANSI.sub("", line).strip())
        if match:
            counts: dict[str, int] = {}
            for item in (match.group(2) or "").split(", "):
                if item:
                    name, _, number = item.partition("=")
                    counts[name] = int(number)
            found = (match.group(1), counts)
    return found


def summary_line(counts: dict[str, int]) -> str:
    passed = counts.get("successes", 0)
    failed = sum(counts.get(kind, 0) for kind in FAILED_KINDS)
    skipped = sum(counts.get(kind, 0) for kind in SKIPPED_KINDS)
    line = f"{passed} passed, {failed} failed"
    return line + (f", {skipped} skipped" if skipped else "")


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8", errors="replace") as f:
        found = last_summary(f.read())
    if found is None:
        print(f"no trial summary (PASSED/FAILED line) found in {argv[1]}", file=sys.stderr)
        return 2
    status, counts = found
    print(summary_line(counts))
    passed = counts.get("successes", 0)
    failed = sum(counts.get(kind, 0) for kind in FAILED_KINDS)
    if status != "PASSED" or failed:
        return 1
    if not passed:
        print("no test passed: did any test run?", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
