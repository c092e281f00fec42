#!/usr/bin/env bash
# Builds the Java interop program (integration/java: real Java Sentinel for the
# interop tests) into a cache outside the repository:
#
#   ${RULESYNC_CACHE:-$HOME/.cache/rulesync}/java/<hash>/interop.jar
#
# where <hash> covers pom.xml and every file under src/. A warm run finds the
# jar and never starts Maven. A cold run tries Maven offline first (a primed
# ~/.m2 needs no network), then online. Idempotent; concurrent runs are
# serialised with a lock so that they build once.
#
# Usage: scripts/setup-java.sh [--print-jar] [--no-install]
#   --print-jar   print the jar's path on stdout (everything else goes to stderr)
#   --no-install  build if a JDK and Maven are there, but never apt-get them
#                 (what the test harness asks for)
#
# Environment:
#   RULESYNC_SKIP_SERVER_INSTALL=1  never install packages or run Maven: a jar
#                                   that is not built yet stays missing (exit 3;
#                                   Java interop tests then skip, or fail with
#                                   RULESYNC_REQUIRE_SERVERS=1).
#   RULESYNC_CACHE                  cache root (default $HOME/.cache/rulesync).
#
# Exit codes: 0 jar ready; 3 cannot be built here (skipped install, no JDK or
# Maven); anything else: the build failed.
set -euo pipefail

print_jar=0
no_install=0
for arg in "$@"; do
  case "$arg" in
    --print-jar) print_jar=1 ;;
    --no-install) no_install=1 ;;
    *) echo "setup-java: unknown argument $arg" >&2; exit 2 ;;
  esac
done

root="$(cd "$(dirname "$0")/.." && pwd)"
src="$root/integration/java"
cache="${RULESYNC_CACHE:-$HOME/.cache/rulesync}/java"

hash="$(cd "$src" && find pom.xml src -type f -print | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16)"
out="$cache/$hash"
jar="$out/interop.jar"

done_msg() {
  touch "$out" 2>/dev/null || true
  echo "setup-java: $jar" >&2
  if [ "$print_jar" = 1 ]; then
    echo "$jar"
  fi
  exit 0
}

# A class-data archive recorded from the warmup mode (a token server and
# client, every rule parser) makes each JVM the tests start reach READY
# 20-30% sooner. It is bound to the jar's path and mtime, so it is made after
# the jar is in place. Optional: without it the harness runs without; a
# failed attempt is remembered and not repeated.
make_archive() {
  local jsa="$out/interop.jsa" logs
  logs="$(mktemp -d)"
  rm -f "$jsa" "$jsa.failed"
  if java -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xss512k -Xmx256m -Dfile.encoding=UTF-8 \
      -Xlog:all=off -XX:ArchiveClassesAtExit="$jsa.tmp" \
      -jar "$jar" warmup --log-dir="$logs" </dev/null >"$logs/warmup.out" 2>&1 && [ -s "$jsa.tmp" ]; then
    mv -f "$jsa.tmp" "$jsa"
    echo "setup-java: class-data archive $jsa" >&2
  else
    rm -f "$jsa.tmp"
    echo "setup-java: no class-data archive (warmup failed; JVMs start a little slower):" >&2
    tail -n 5 "$logs/warmup.out" >&2
    touch "$jsa.failed"
  fi
  rm -rf "$logs"
}

[ -f "$jar" ] && { [ -f "$out/interop.jsa" ] || [ -f "$out/interop.jsa.failed" ] ||
  [ "${RULESYNC_SKIP_SERVER_INSTALL:-0}" = 1 ] || ! command -v java >/dev/null 2>&1 || make_archive; done_msg; }

if [ "${RULESYNC_SKIP_SERVER_INSTALL:-0}" = 1 ]; then
  echo "setup-java: $jar not built; build skipped (RULESYNC_SKIP_SERVER_INSTALL=1)" >&2
  exit 3
fi

if ! command -v java >/dev/null 2>&1 || ! command -v mvn >/dev/null 2>&1; then
  if [ "$no_install" = 1 ]; then
    echo "setup-java: java or mvn not on PATH (run scripts/setup-java.sh to install them)" >&2
    exit 3
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup-java: java or mvn missing and apt-get is not available; install a JDK (11+) and Maven" >&2
    exit 3
  fi
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
      echo "setup-java: java or mvn missing; need root (or sudo) to apt-get install them" >&2
      exit 3
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  pkgs=(openjdk-17-jdk-headless maven)
  echo "setup-java: installing ${pkgs[*]}" >&2
  if ! $sudo apt-get install -y --no-install-recommends "${pkgs[@]}" >&2; then
    $sudo apt-get update >&2
    $sudo apt-get install -y --no-install-recommends "${pkgs[@]}" >&2
  fi
fi

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
# Another run may have built it while this one waited for the lock.
[ -f "$jar" ] && done_msg

build="$(mktemp -d "$cache/build.XXXXXX")"
trap 'rm -rf "$build"' EXIT
start=$(date +%s)
mvn_args=(-q -B -f "$src/pom.xml" -Dinterop.build.dir="$build" package)
if mvn -o "${mvn_args[@]}" >"$build/offline.log" 2>&1; then
  how="offline"
else
  echo "setup-java: offline build failed (dependencies not in ~/.m2 yet?); building online" >&2
  if ! mvn "${mvn_args[@]}" >"$build/online.log" 2>&1; then
    echo "setup-java: Maven build failed:" >&2
    tail -n 40 "$build/online.log" >&2
    exit 1
  fi
  how="online"
fi
mkdir -p "$out"
cp "$build/interop.jar" "$jar.tmp.$$"
mv -f "$jar.tmp.$$" "$jar"
echo "setup-java: built $how in $(( $(date +%s) - start )) s" >&2

make_archive

# Jars of source states nobody has used for a month go.
find "$cache" -mindepth 1 -maxdepth 1 -type d -name '????????????????' -mtime +30 -exec rm -rf {} + 2>/dev/null || true
done_msg
