"""`make bench`: runs every benchmark and prints one `name: value` line per figure.

python -m bench              every bench, in order
python -m bench load races   only those (names as in BENCHES)
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator

from bench import dashboard, demo_import, deploy, fuzz, import_time, load, races, reminders

BENCHES: dict[str, Callable[[], Iterator[tuple[str, str]]]] = {
    "import_time": import_time.run,
    "demo_import": demo_import.run,
    "deploy": deploy.run,
    "reminders": reminders.run,
    "dashboard": dashboard.run,
    "fuzz": fuzz.run,
    "races": races.run,
    "load": load.run,
}


def main(names: list[str]) -> int:
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        print(f"unknown bench {', '.join(unknown)}; one of: {' '.join(BENCHES)}", file=sys.stderr)
        return 2
    for name in names or list(BENCHES):
        for figure, value in BENCHES[name]():
            print(f"{figure}: {value}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
