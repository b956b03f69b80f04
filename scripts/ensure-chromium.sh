#!/bin/sh
# Browser tests drive Debian's Chromium through Playwright (never `playwright install`).
set -e
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [ -x "$CHROMIUM" ]; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian's chromium for the browser tests..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  exit 0
fi
echo "Browser tests need Debian's Chromium at $CHROMIUM." >&2
echo "Install it as root:  apt-get update && apt-get install -y chromium" >&2
exit 1
