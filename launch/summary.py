"""Print one field of the `SUMMARY {json}` line in a run log (for launch scripts)."""

import json
import sys


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: summary.py LOG FIELD", file=sys.stderr)
        return 2
    log, field = sys.argv[1], sys.argv[2]
    summary = None
    with open(log, errors="replace") as handle:
        for line in handle:
            if line.startswith("SUMMARY "):
                summary = json.loads(line[len("SUMMARY ") :])
    if summary is None:
        print(f"summary.py: no SUMMARY line in {log}", file=sys.stderr)
        return 1
    if field not in summary:
        print(f"summary.py: SUMMARY in {log} has no field {field!r}", file=sys.stderr)
        return 1
    print(summary[field])
    return 0


if __name__ == "__main__":
    sys.exit(main())
