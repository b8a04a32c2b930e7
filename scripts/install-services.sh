#!/usr/bin/env bash
# Installs the real services the Rust tests talk to, only when missing: Debian's
# prometheus-alertmanager (alert delivery to an Alertmanager, tests/alert_receivers.rs). The
# package's own service is not started; the tests run their own on free loopback ports.
set -euo pipefail

if ! [ -x /usr/bin/prometheus-alertmanager ]; then
  echo "[install-services] installing Debian prometheus-alertmanager" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends prometheus-alertmanager >/dev/null
fi
