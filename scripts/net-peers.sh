#!/usr/bin/env bash
# Installs the real third-party peers that crates/zerows-net/tests/peers/mod.rs starts:
#   tinyproxy      (Debian package tinyproxy)     HTTP CONNECT proxy, optional Basic auth
#   danted         (Debian package dante-server)  SOCKS5 proxy, RFC 1929 username/password
#   openssl        (Debian package openssl)       for ad-hoc certificate / s_client checks
#   .venv-net/     Python venv with websockets==$WEBSOCKETS_VERSION (scripts/net-peers/ws_echo.py)
#
# Idempotent and quiet: installs only what is missing, then prints the versions. Needs root (or
# sudo) for apt-get. Debian's postinst scripts enable and may start the system services
# (tinyproxy on :8888; danted fails with the stock config): they are stopped and disabled here,
# the tests run their own instances on free loopback ports.
#
# Environment (optional):
#   ZEROWS_VENV_PYTHON  interpreter that creates .venv-net (default python3)
set -euo pipefail

WEBSOCKETS_VERSION=15.0.1

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.venv-net"
PY=${ZEROWS_VENV_PYTHON:-python3}

SUDO=()
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=(sudo); else
    echo "net-peers.sh: not root and no sudo; cannot apt-get install" >&2
  fi
fi

apt_updated=
apt_install() {
  if [ -z "$apt_updated" ]; then
    "${SUDO[@]}" apt-get update -qq >/dev/null
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]; }

pkgs=()
have tinyproxy || pkgs+=(tinyproxy)
have danted || pkgs+=(dante-server)
have openssl || pkgs+=(openssl)
if [ ${#pkgs[@]} -gt 0 ]; then
  echo "net-peers.sh: apt-get install ${pkgs[*]}"
  apt_install "${pkgs[@]}"
  # the packages' own services are not wanted (the tests start private instances)
  for svc in tinyproxy danted; do
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
      "${SUDO[@]}" systemctl disable --now "$svc" >/dev/null 2>&1 || true
    elif command -v service >/dev/null 2>&1; then
      "${SUDO[@]}" service "$svc" stop >/dev/null 2>&1 || true
    fi
  done
fi

venv_ok() {
  "$VENV/bin/python" -c "import sys, websockets.asyncio.server, websockets.version as v; sys.exit(v.version != '$WEBSOCKETS_VERSION')" >/dev/null 2>&1
}
if ! venv_ok; then
  echo "net-peers.sh: creating $VENV with websockets==$WEBSOCKETS_VERSION"
  rm -rf "$VENV"
  if ! "$PY" -m venv "$VENV" >/dev/null 2>&1; then
    # Debian's python3 lacks ensurepip until python3-venv is installed
    rm -rf "$VENV"
    apt_install python3-venv
    "$PY" -m venv "$VENV"
  fi
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "websockets==$WEBSOCKETS_VERSION"
  venv_ok
fi

tp=$(command -v tinyproxy || echo /usr/bin/tinyproxy)
dt=$(command -v danted || echo /usr/sbin/danted)
deb() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo '?'; }
echo "tinyproxy:  $("$tp" -v 2>&1 | head -n1)  (deb $(deb tinyproxy), $tp)"
echo "danted:     $("$dt" -v 2>&1 | head -n1 | awk '{print $1, $2}')  (deb $(deb dante-server), $dt)"
echo "openssl:    $(openssl version)"
echo "websockets: $("$VENV/bin/python" -c 'import sys, websockets; print(websockets.__version__, "on Python", sys.version.split()[0])')  ($VENV/bin/python)"
