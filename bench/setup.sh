#!/bin/sh
# Installs what the bench's Redis peer needs: redis-server (Redis 7 from Debian). Nothing else of
# the bench needs a system package. Safe to run twice; never leaves a Redis service running.
set -eu

if command -v redis-server >/dev/null 2>&1; then
  echo "redis-server is installed: $(redis-server --version)"
  exit 0
fi

SUDO=
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "setup.sh: not root and no sudo: install redis-server yourself" >&2; exit 1; }
  SUDO=sudo
fi
command -v apt-get >/dev/null 2>&1 || { echo "setup.sh: no apt-get here: install redis-server (Redis 7) yourself" >&2; exit 1; }

# The bench starts its own redis-server on a loopback port with a temporary dir; the packaged
# service (port 6379) is not wanted. Where no policy-rc.d forbids starting services (containers
# usually have one), the package's service is stopped and disabled after the install.
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends redis-server
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet redis-server 2>/dev/null; then
  $SUDO systemctl disable --now redis-server || true
elif command -v service >/dev/null 2>&1 && [ ! -x /usr/sbin/policy-rc.d ]; then
  $SUDO service redis-server stop || true
fi
echo "installed: $(redis-server --version)"
