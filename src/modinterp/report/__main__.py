"""`python -m modinterp.report DIR`: (re)build DIR/report.html from DIR/results.json (same as `modinterp report DIR`)."""

from __future__ import annotations

import sys

from modinterp.studies.growth.gap_report import build_study_report
from modinterp.studies.growth.schema import ResultsError


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] in ("-h", "--help"):
        print("usage: python -m modinterp.report RUN_DIR   (reads RUN_DIR/results.json, writes RUN_DIR/report.html)")
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    try:
        print(build_study_report(argv[0]))
    except ResultsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
