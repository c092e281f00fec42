#!/usr/bin/env bash
# Resolves the Sentinel dashboard that rulesync's dashboard tests drive
# (integration/dashboard/pom.xml: org.jeecgframework.cloud's republication
# of the upstream 1.8.3 dashboard, with the runtime dependencies upstream's
# pom declares) into a class path kept outside the repository:
#
#   ${RULESYNC_CACHE:-$HOME/.cache/rulesync}/dashboard/<hash of the pom>/classpath.txt
#
# A warm run finds the file and never starts Maven. A cold run tries Maven
# offline first, then online. Idempotent; concurrent runs are serialised.
#
# Usage: scripts/setup-dashboard.sh [--print-classpath] [--no-install]
#   --print-classpath  print the class path file's path on stdout
#   --no-install       resolve if Java and Maven are there, never apt-get them
#
# Environment: RULESYNC_SKIP_SERVER_INSTALL=1 never runs Maven (exit 3 when
# not resolved yet); RULESYNC_CACHE is the cache root.
# Exit codes: 0 ready; 3 cannot be resolved here; anything else: Maven failed.
set -euo pipefail

print=0
no_install=0
for arg in "$@"; do
  case "$arg" in
    --print-classpath) print=1 ;;
    --no-install) no_install=1 ;;
    *) echo "setup-dashboard: unknown argument $arg" >&2; exit 2 ;;
  esac
done

root="$(cd "$(dirname "$0")/.." && pwd)"
pom="$root/integration/dashboard/pom.xml"
cache="${RULESYNC_CACHE:-$HOME/.cache/rulesync}/dashboard"
hash="$(sha256sum "$pom" | cut -c1-16)"
out="$cache/$hash"
cp_file="$out/classpath.txt"

done_msg() {
  echo "setup-dashboard: $cp_file" >&2
  if [ "$print" = 1 ]; then echo "$cp_file"; fi
  exit 0
}

# Every jar of the class path must still be in ~/.m2.
valid() {
  [ -s "$cp_file" ] || return 1
  local jar
  while IFS= read -r -d: jar || [ -n "$jar" ]; do
    [ -f "$jar" ] || return 1
  done < "$cp_file"
}

valid && done_msg

if [ "${RULESYNC_SKIP_SERVER_INSTALL:-0}" = 1 ]; then
  echo "setup-dashboard: not resolved; skipped (RULESYNC_SKIP_SERVER_INSTALL=1)" >&2
  exit 3
fi
if ! command -v java >/dev/null 2>&1 || ! command -v mvn >/dev/null 2>&1; then
  if [ "$no_install" = 1 ]; then
    echo "setup-dashboard: java or mvn not on PATH (scripts/setup-java.sh installs them)" >&2
    exit 3
  fi
  bash "$root/scripts/setup-java.sh" >/dev/null
fi

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
valid && done_msg

tmp="$(mktemp -d "$cache/resolve.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
args=(-q -B -f "$pom" dependency:build-classpath -Dmdep.outputFile="$tmp/cp.txt")
if ! mvn -o "${args[@]}" >"$tmp/offline.log" 2>&1; then
  echo "setup-dashboard: offline resolution failed; resolving online" >&2
  if ! mvn "${args[@]}" >"$tmp/online.log" 2>&1; then
    echo "setup-dashboard: Maven failed:" >&2
    tail -n 30 "$tmp/online.log" >&2
    exit 1
  fi
fi
mkdir -p "$out"
mv -f "$tmp/cp.txt" "$cp_file"
done_msg
