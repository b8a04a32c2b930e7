#!/usr/bin/env bash
# Installs what the browser tests need, only when missing: Debian's chromium (Playwright's
# own browser download cannot work here) and the end2end npm packages.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

if ! [ -x /usr/bin/chromium ]; then
  echo "[install-e2e-deps] installing Debian chromium" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
fi

cd "$root/end2end"
if ! [ -d node_modules/@playwright/test ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[install-e2e-deps] installing end2end npm packages" >&2
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
fi
