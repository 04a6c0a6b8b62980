#!/usr/bin/env bash
# Debian packages the test suite runs for real: promtool/Prometheus and amtool/Alertmanager, and `ip`
# (iproute2), which brings up loopback in the private network namespace Phoenix runs in (tests/e2e);
# redis-server, the shared budget store the budget tests start on 127.0.0.1 (tests/budgets);
# Chromium, which opens the HTML report headless, and libfaketime, which sets the clock of a process
# making real calls over several days (tests/econ).
# Installs them only when missing; needs root (or sudo).
set -euo pipefail
missing=()
command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v amtool >/dev/null 2>&1 && command -v prometheus-alertmanager >/dev/null 2>&1 || missing+=(prometheus-alertmanager)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v faketime >/dev/null 2>&1 || missing+=(faketime)
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "Installing Debian packages: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
