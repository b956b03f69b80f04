"""`make bench`: runs every benchmark and prints one `name: value` line per figure."""

from __future__ import annotations

import sys

from bench import dashboard, demo_import, deploy, import_time, reminders

BENCHES = [import_time.run, demo_import.run, deploy.run, reminders.run, dashboard.run]


def main() -> int:
    for bench in BENCHES:
        for name, value in bench():
            print(f"{name}: {value}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
