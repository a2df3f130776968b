#!/usr/bin/env bash
# System packages the test suite's real servers need, installed when missing (idempotent, quiet when present).
#   PostgreSQL 15: catalog tests on PostgreSQL (the fixture runs a private cluster).
#   Chromium: the dashboard's end-to-end test drives Debian's /usr/bin/chromium with Playwright (Playwright's
#   own browser download does not work offline); fonts-liberation gives its pages real fonts.
set -euo pipefail
need=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
[ -x /usr/bin/chromium ] || need+=(chromium fonts-liberation)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "missing system packages: ${need[*]} (install them, or run as root)" >&2
    exit 1
  fi
  echo ">> installing ${need[*]}" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi
