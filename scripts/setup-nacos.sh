#!/usr/bin/env bash
# Prepares the Nacos-protocol servers the integration suites start:
#   1. a real Nacos (version in integration/harness/nacos/pom.xml): resolves its
#      classpath from Maven Central once into <cache>/nacos/<version>/classpath.txt
#      (jars stay in ~/.m2), then records a class-data-sharing archive
#      (nacos.jsa) of one start-up, which makes later starts faster;
#   2. Polaris (a Go server speaking the Nacos config API), built once from the
#      Go module proxy into <cache>/bin/polaris-server, with its release config.
# <cache> is $RULESYNC_CACHE_DIR, default $HOME/.cache/rulesync.
# Idempotent: when everything is in place it only compares stamps (well under a second).
#
# Environment:
#   RULESYNC_SKIP_SERVER_INSTALL=1  never download or build (suites then skip, or
#                                   fail with RULESYNC_REQUIRE_SERVERS=1).
#   RULESYNC_SKIP_POLARIS=1         leave Polaris out.
set -euo pipefail
cd "$(dirname "$0")/.."

cache="${RULESYNC_CACHE_DIR:-$HOME/.cache/rulesync}"
pom=integration/harness/nacos/pom.xml
nacos_version=$(sed -n 's:.*<nacos.version>\(.*\)</nacos.version>.*:\1:p' "$pom")
nacos_dir="$cache/nacos/$nacos_version"
cp_file="$nacos_dir/classpath.txt"

polaris_version=v1.18.1
polaris_bin="$cache/bin/polaris-server"
polaris_dir="$cache/polaris/$polaris_version"

log() { echo "setup-nacos: $*"; }
skip_install() { [ "${RULESYNC_SKIP_SERVER_INSTALL:-0}" = 1 ]; }

# sha of the files named, or of stdin.
sha() { sha256sum "$@" | cut -d' ' -f1; }

# Every jar the cached classpath names must still be in the local repository.
classpath_ok() {
  [ -s "$cp_file" ] && [ "$(cat "$nacos_dir/pom.sha256" 2>/dev/null)" = "$(sha "$pom")" ] || return 1
  local jar
  while IFS= read -r -d: jar || [ -n "$jar" ]; do
    [ -f "$jar" ] || return 1
  done < <(tr -d '\n' < "$cp_file")
}

# The archive is only valid for this java and this classpath.
jsa_stamp() { printf '%s\n%s\n' "$(java -version 2>&1 | head -1)" "$(sha "$cp_file")"; }
jsa_ok() {
  [ -f "$nacos_dir/nacos.jsa" ] && [ "$(cat "$nacos_dir/nacos.jsa.stamp" 2>/dev/null)" = "$(jsa_stamp)" ]
}

# The wrapper module; its hash, recorded after a build, tells a stale binary.
polaris_wrapper() {
  printf '%s\n' "module polariswrap" "" "go 1.26" "" \
    "require github.com/polarismesh/polaris $polaris_version" "" \
    "replace gopkg.in/yaml.v2 => gopkg.in/yaml.v2 v2.2.2"
}

polaris_ok() {
  [ -x "$polaris_bin" ] && [ -f "$polaris_dir/conf/polaris-server.yaml" ] &&
    [ "$(cat "$polaris_dir/wrapper.sha256" 2>/dev/null)" = "$(polaris_wrapper | sha)" ]
}

# The harness edits Polaris's config with Go's standard library only, so the
# release's YAML is converted to JSON once (Polaris's YAML parser reads JSON
# as is), by a small program built in the wrapper module with the YAML
# package Polaris itself uses.
polaris_converter() {
  cat <<'EOF'
// Command yaml2json converts YAML on stdin to indented JSON on stdout.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"gopkg.in/yaml.v2"
)

func main() {
	in, err := io.ReadAll(os.Stdin)
	if err == nil {
		var v any
		if err = yaml.Unmarshal(in, &v); err == nil {
			var out []byte
			if out, err = json.MarshalIndent(stringKeys(v), "", "  "); err == nil {
				_, err = os.Stdout.Write(append(out, '\n'))
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "yaml2json:", err)
		os.Exit(1)
	}
}

// stringKeys turns YAML's map[interface{}]interface{} into JSON objects.
func stringKeys(v any) any {
	switch x := v.(type) {
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = stringKeys(e)
		}
		return m
	case []any:
		for i := range x {
			x[i] = stringKeys(x[i])
		}
	}
	return v
}
EOF
}

polaris_json_ok() {
  [ -f "$polaris_dir/conf/polaris-server.json" ] &&
    [ "$(cat "$polaris_dir/json.sha256" 2>/dev/null)" = "$( (polaris_converter; cat "$polaris_dir/conf/polaris-server.yaml") | sha)" ]
}

convert_polaris_conf() {
  local wrap="$cache/src/polariswrap"
  mkdir -p "$wrap/cmd/yaml2json"
  polaris_converter > "$wrap/cmd/yaml2json/main.go"
  log "converting the Polaris release config to JSON"
  (cd "$wrap" && GOFLAGS=-mod=mod go run ./cmd/yaml2json) < "$polaris_dir/conf/polaris-server.yaml" \
    > "$polaris_dir/conf/polaris-server.json.tmp" || return 1
  mv "$polaris_dir/conf/polaris-server.json.tmp" "$polaris_dir/conf/polaris-server.json"
  (polaris_converter; cat "$polaris_dir/conf/polaris-server.yaml") | sha > "$polaris_dir/json.sha256"
}

need_java() {
  if command -v java >/dev/null 2>&1 && command -v mvn >/dev/null 2>&1; then
    return 0
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    log "java and mvn are needed and apt-get is not available; install a JDK 17 and Maven by hand" >&2
    exit 1
  fi
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo=sudo; fi
  export DEBIAN_FRONTEND=noninteractive
  log "installing openjdk-17-jdk-headless and maven"
  if ! $sudo apt-get install -y --no-install-recommends openjdk-17-jdk-headless maven; then
    $sudo apt-get update
    $sudo apt-get install -y --no-install-recommends openjdk-17-jdk-headless maven
  fi
}

resolve_classpath() {
  mkdir -p "$nacos_dir"
  local tmp
  tmp=$(mktemp "$nacos_dir/classpath.XXXXXX")
  log "resolving the Nacos $nacos_version server classpath with Maven"
  # Maven prints its errors on stdout; keep them for a failure only.
  if ! mvn -B -q -Dstyle.color=never -f "$pom" dependency:build-classpath \
    -Dmdep.outputFile="$tmp" -Dmdep.includeScope=runtime > "$tmp.log" 2>&1 || [ ! -s "$tmp" ]; then
    cat "$tmp.log" >&2
    rm -f "$tmp" "$tmp.log"
    log "could not resolve the Nacos classpath" >&2
    exit 1
  fi
  rm -f "$tmp.log"
  chmod 644 "$tmp"
  mv "$tmp" "$cp_file"
  sha "$pom" > "$nacos_dir/pom.sha256"
}

# nacos_ready PORT: the readiness route answers 200 (bash's /dev/tcp: a
# fresh machine may have no curl).
nacos_ready() {
  local status
  status=$( (exec 3<>"/dev/tcp/127.0.0.1/$1" &&
    printf 'GET /nacos/v1/console/health/readiness HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3 &&
    head -1 <&3) 2>/dev/null) || return 1
  [[ "$status" == *" 200"* ]]
}

# Starts Nacos once with -XX:ArchiveClassesAtExit and stops it gracefully, so
# that the JVM writes the classes it loaded to nacos.jsa. Best effort: without
# the archive the harness still works, only slower to start.
record_jsa() {
  local work port pid ok=0 i
  work=$(mktemp -d)
  for i in $(seq 1 50); do
    port=$((20000 + RANDOM % 10000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null &&
      ! (exec 3<>"/dev/tcp/127.0.0.1/$((port + 1000))") 2>/dev/null &&
      ! (exec 3<>"/dev/tcp/127.0.0.1/$((port + 1001))") 2>/dev/null; then
      break
    fi
  done
  mkdir -p "$work/home/conf" "$work/tmp"
  printf '%s\n' "server.address=127.0.0.1" "nacos.inetutils.ip-address=127.0.0.1" \
    "nacos.logs.path=$work/home/logs" "server.tomcat.accesslog.enabled=false" \
    "nacos.core.auth.enabled=false" > "$work/home/conf/application.properties"
  log "recording a class-data-sharing archive of one Nacos start (port $port)"
  (cd "$work" && exec java -Xms128m -Xmx512m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:-UsePerfData \
    -XX:ArchiveClassesAtExit="$work/nacos.jsa" -Djava.io.tmpdir="$work/tmp" \
    -Dnacos.standalone=true -Dnacos.functionMode=config -Dnacos.home="$work/home" \
    -Dserver.port="$port" -DJM.LOG.PATH="$work/home/logs" \
    -cp "$(cat "$cp_file")" com.alibaba.nacos.Nacos \
    --spring.config.additional-location="file:$work/home/conf/") > "$work/out.log" 2>&1 &
  pid=$!
  for i in $(seq 1 600); do
    if nacos_ready "$port"; then
      ok=1
      break
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if [ "$ok" = 1 ] && [ -s "$work/nacos.jsa" ]; then
    mv "$work/nacos.jsa" "$nacos_dir/nacos.jsa"
    jsa_stamp > "$nacos_dir/nacos.jsa.stamp"
    log "archive written ($(du -h "$nacos_dir/nacos.jsa" | cut -f1))"
  else
    log "no archive recorded (Nacos did not come up; see below); the harness runs without it" >&2
    tail -20 "$work/out.log" >&2 || true
  fi
  rm -rf "$work"
}

# Polaris v1.18.1, built from a throw-away wrapper module outside the repo.
# yaml.v2 is pinned to v2.2.2 as Polaris's own build expects (newer ones
# change how its config parses).
build_polaris() {
  if ! command -v go >/dev/null 2>&1; then
    log "go is not on PATH; Polaris not built" >&2
    return 1
  fi
  local wrap="$cache/src/polariswrap"
  mkdir -p "$wrap" "$cache/bin" "$polaris_dir"
  polaris_wrapper > "$wrap/go.mod"
  rm -f "$wrap/go.sum"
  cat > "$wrap/tools.go" <<'EOF'
//go:build tools

package polariswrap

import _ "github.com/polarismesh/polaris"
EOF
  log "building Polaris $polaris_version (first time: a few minutes)"
  (cd "$wrap" && GOFLAGS=-mod=mod go mod tidy && go build -ldflags "-s -w" -o "$polaris_bin.tmp" github.com/polarismesh/polaris) || return 1
  mv "$polaris_bin.tmp" "$polaris_bin" || return 1
  # Its release config (the harness rewrites ports, addresses and paths) and
  # the message files that must sit beside it.
  local mod
  mod=$(cd "$wrap" && go list -m -f '{{.Dir}}' github.com/polarismesh/polaris)
  [ -n "$mod" ] && [ -f "$mod/release/conf/polaris-server.yaml" ] || return 1
  rm -rf "${polaris_dir:?}/conf"
  cp -r "$mod/release/conf" "$polaris_dir/conf" || return 1
  chmod -R u+w "$polaris_dir/conf"
  polaris_wrapper | sha > "$polaris_dir/wrapper.sha256"
  log "polaris built: $polaris_bin ($(du -h "$polaris_bin" | cut -f1))"
}

# --- Nacos ---
if classpath_ok; then
  log "nacos $nacos_version classpath cached"
elif skip_install; then
  log "nacos $nacos_version classpath missing; install skipped (RULESYNC_SKIP_SERVER_INSTALL=1)" >&2
else
  need_java
  resolve_classpath
fi
if classpath_ok && ! jsa_ok && ! skip_install; then
  record_jsa
fi

# --- Polaris ---
if [ "${RULESYNC_SKIP_POLARIS:-0}" = 1 ]; then
  log "polaris skipped (RULESYNC_SKIP_POLARIS=1)"
else
  if polaris_ok; then
    log "polaris $polaris_version built"
  elif skip_install; then
    log "polaris missing; build skipped (RULESYNC_SKIP_SERVER_INSTALL=1)" >&2
  else
    build_polaris || log "polaris not built; its tests will skip" >&2
  fi
  if polaris_ok && ! polaris_json_ok && ! skip_install; then
    convert_polaris_conf || log "polaris config not converted; its tests will skip" >&2
  fi
fi
