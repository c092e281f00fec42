#!/usr/bin/env bash
# Installs the real servers the integration suites start from local binaries
# (redis-server, etcd and etcdctl from Debian's packages) when they are missing.
# Idempotent: when every binary is already on PATH it only runs `command -v`.
#
# Environment:
#   RULESYNC_SKIP_SERVER_INSTALL=1  never call apt-get (suites then skip, or fail
#                                   with RULESYNC_REQUIRE_SERVERS=1).
set -euo pipefail

# binary -> Debian package that ships it.
declare -A pkg_of=(
  [redis-server]=redis-server
  [etcd]=etcd-server
  [etcdctl]=etcd-client
)

missing=()
for bin in redis-server etcd etcdctl; do
  if ! command -v "$bin" >/dev/null 2>&1; then
    missing+=("${pkg_of[$bin]}")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup-servers: redis-server, etcd and etcdctl present"
  exit 0
fi

if [ "${RULESYNC_SKIP_SERVER_INSTALL:-0}" = 1 ]; then
  echo "setup-servers: missing ${missing[*]}; install skipped (RULESYNC_SKIP_SERVER_INSTALL=1)" >&2
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup-servers: missing ${missing[*]} and apt-get is not available; install them by hand" >&2
  exit 1
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
  else
    echo "setup-servers: need root (or sudo) to apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
echo "setup-servers: installing ${missing[*]}"
# Try without refreshing the package lists first: on a machine whose lists are
# current this saves the slowest step. Fresh images ship without lists, so fall
# back to apt-get update once.
if ! $sudo apt-get install -y --no-install-recommends "${missing[@]}"; then
  $sudo apt-get update
  $sudo apt-get install -y --no-install-recommends "${missing[@]}"
fi

# Debian's packages enable system services; the suites start their own servers
# on free ports, so stop the packaged daemons where a service manager runs them.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  $sudo systemctl disable --now redis-server etcd >/dev/null 2>&1 || true
fi

for bin in redis-server etcd etcdctl; do
  if ! command -v "$bin" >/dev/null 2>&1; then
    echo "setup-servers: $bin still missing after install" >&2
    exit 1
  fi
done
echo "setup-servers: done"
