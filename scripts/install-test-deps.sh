#!/bin/bash
# Install the real servers chmd's test suite starts (idempotent; about a second when all present).
# Usage: install-test-deps.sh [--bench]   (--bench: also what `make bench` compares against)
#
#  * Debian packages: influxdb 1.6.7, snmpd + snmp tools, OpenSSH, Prometheus, systemd-analyze,
#    curl, python3-venv + python3-gdbm, gcc + python3.X-dev for `make native` (only the missing
#    ones; `apt-get update` once, as root)
#  * VictoriaMetrics from Debian trixie's .deb, unpacked (dpkg -x) into .servers/vm; the system's
#    apt sources and state are not touched, the mirror is the one this machine's apt already uses
#  * snmpsim in its own venv .servers/snmpsim-venv on Debian's /usr/bin/python3 (dbm.gnu indexes
#    the recordings in well under a second)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SERVERS="$ROOT/.servers"
VMDIR="$SERVERS/vm"
SIMVENV="$SERVERS/snmpsim-venv"
say() { printf 'install-test-deps: %s\n' "$*"; }
cleanups=()
cleanup() { for c in "${cleanups[@]}"; do eval "$c"; done; }
trap cleanup EXIT

# ---- Debian packages ---------------------------------------------------------------------------
missing=()
need() {  # need PACKAGE TEST...: the package is missing when any test fails
  local pkg=$1; shift
  for t in "$@"; do
    if ! eval "$t" >/dev/null 2>&1; then missing+=("$pkg"); return; fi
  done
}
have() { command -v "$1" || [ -x "$1" ]; }
need influxdb        'have influxd'
need influxdb-client 'have influx'
need snmpd           'have /usr/sbin/snmpd'
need snmp            'have snmpget' 'have snmpbulkwalk'
need openssh-server  'have /usr/sbin/sshd'
need openssh-client  'have ssh-keygen'
need prometheus      'have prometheus' 'have promtool'
need systemd         'have systemd-analyze'
need curl            'have curl'
need python3-venv    '/usr/bin/python3 -c "import ensurepip, venv"'
need python3-gdbm    '/usr/bin/python3 -c "import dbm.gnu"'
# `make native` (run by `make test`) compiles the hot path: a C compiler and the headers of the
# venv's Python (Debian's python3.X-dev when the venv is on Debian's own Python)
need gcc 'have gcc'
VENVPY="$ROOT/.venv/bin/python"
if [ -x "$VENVPY" ] && ! "$VENVPY" -c 'import os, sysconfig, sys
sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))'; then
  if [ "$("$VENVPY" -c 'import sys; print(sys.base_prefix)')" = /usr ]; then
    missing+=("python$("$VENVPY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')-dev")
  else
    say "the venv's Python ($("$VENVPY" -c 'import sys; print(sys.base_prefix)')) has no Python.h:" \
        "install its headers, or recreate .venv on Debian's python3" >&2
    exit 1
  fi
fi
# `make bench` also measures Prometheus's snmp_exporter (Go) as the baseline users know, and
# builds its load agent in a network namespace (iproute2's `ip netns`)
if [ "${1:-}" = --bench ]; then
  need prometheus-snmp-exporter 'have prometheus-snmp-exporter'
  need iproute2                 'have ip'
fi

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! have apt-get >/dev/null; then
    say "missing: ${missing[*]} (install them as root with apt-get)" >&2
    exit 1
  fi
  say "installing ${missing[*]}"
  # keep maintainer scripts from starting influxd/snmpd/sshd/prometheus on public addresses
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
    cleanups+=("rm -f /usr/sbin/policy-rc.d")
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# ---- VictoriaMetrics (Debian trixie .deb, unpacked) --------------------------------------------
if [ ! -x "$VMDIR/usr/bin/victoria-metrics" ]; then
  say "fetching victoria-metrics from Debian trixie"
  W=$(mktemp -d); cleanups+=("rm -rf '$W'")
  mkdir -p "$W/lists/partial" "$W/cache/archives/partial"
  # the Debian mirror this machine's apt already uses (deb822 URIs: line, or a classic deb line)
  MIRROR=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\/debian\)[[:space:]]*$/\1/p' \
             /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1 || true)
  [ -n "$MIRROR" ] || MIRROR=$(sed -n \
      's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]*\/debian\)[[:space:]].*/\2/p' \
      /etc/apt/sources.list 2>/dev/null | head -n 1 || true)
  [ -n "$MIRROR" ] || { say "no Debian mirror found in the apt sources" >&2; exit 1; }
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR trixie main" \
    > "$W/sources.list"
  OPTS=(-o Dir::Etc::SourceList="$W/sources.list" -o Dir::Etc::SourceParts=/dev/null
        -o Dir::State::Lists="$W/lists" -o Dir::Cache="$W/cache"
        -o Dir::Cache::pkgcache="" -o Dir::Cache::srcpkgcache="" -o APT::Get::List-Cleanup=0
        -o APT::Sandbox::User=root)
  apt-get "${OPTS[@]}" update -q
  (cd "$W" && apt-get "${OPTS[@]}" download victoria-metrics)
  mkdir -p "$VMDIR.tmp"
  dpkg -x "$W"/victoria-metrics_*.deb "$VMDIR.tmp"
  rm -rf "$VMDIR"; mv "$VMDIR.tmp" "$VMDIR"
fi

# ---- snmpsim venv on Debian's Python ------------------------------------------------------------
if ! "$SIMVENV/bin/python" -c 'import snmpsim, pysmi, cryptography, dbm.gnu' >/dev/null 2>&1 \
   || [ ! -x "$SIMVENV/bin/snmpsim-command-responder" ]; then
  say "building the snmpsim venv"
  rm -rf "$SIMVENV"
  /usr/bin/python3 -m venv "$SIMVENV"
  # snmpsim 1.2 imports pysmi without declaring it; cryptography: SNMPv3 privacy (AES)
  "$SIMVENV/bin/pip" install -q 'snmpsim==1.2.*' 'pysnmp==7.1.*' pysmi cryptography
fi
say "ok"
