#!/usr/bin/env bash
# Installs the real services the tests talk to, only when missing: Debian's
# prometheus-alertmanager (alert delivery, tests/it/alert_receivers.rs), redis-server (several
# instances, tests/it/scale_out.rs), nginx (the load balancer of end2end/tests/scale_out.spec.ts),
# prometheus (remote write sender and scrape target, tests/it/producers.rs) and
# prometheus-node-exporter (real host metrics to scrape).
# The packages' own services are not started; the tests run their own on free loopback ports.
set -euo pipefail

missing=()
[ -x /usr/bin/prometheus-alertmanager ] || missing+=(prometheus-alertmanager)
[ -x /usr/bin/redis-server ] || missing+=(redis-server)
[ -x /usr/sbin/nginx ] || missing+=(nginx-light)
[ -x /usr/bin/prometheus ] || missing+=(prometheus)
[ -x /usr/bin/prometheus-node-exporter ] || missing+=(prometheus-node-exporter)
if [ ${#missing[@]} -gt 0 ]; then
  echo "[install-services] installing Debian ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Installing must not start the packages' own services (ports 6379, 80): policy-rc.d says no.
  own_policy=false
  if ! [ -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    own_policy=true
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if $own_policy; then rm -f /usr/sbin/policy-rc.d; fi
fi
