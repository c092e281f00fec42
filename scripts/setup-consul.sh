#!/usr/bin/env bash
# Builds the Consul agent the integration suites start (harness.Consul), from
# the Go module proxy, into $HOME/.cache/rulesync/bin/consul.
#
# Consul v1.14.11 is pinned: it is MPL-2.0 and the newest release whose module
# graph holds neither github.com/hashicorp/consul/envoyextensions nor
# .../troubleshoot (both not open source, never to enter any go.mod). The build
# happens in a throw-away wrapper module outside the repo, so that the
# project's go.mod never sees Consul's dependencies.
#
# Idempotent: when the binary is there and reports the pinned version this
# only runs `consul version`. A cold build takes several minutes (see
# integration/harness/CONSUL.md); a rebuild with a warm Go build cache takes
# seconds.
#
# Environment:
#   RULESYNC_SKIP_SERVER_INSTALL=1  never build (suites then skip, or fail with
#                                   RULESYNC_REQUIRE_SERVERS=1).
#   RULESYNC_BUILD_JOBS=N           packages compiled in parallel (default: the
#                                   number of CPUs, since setup runs before any
#                                   test; set 1 on a machine busy with other work).
set -euo pipefail

version=v1.14.11
cache="$HOME/.cache/rulesync"
bin_dir="$cache/bin"
bin="$bin_dir/consul"
wrap="$cache/build/consulwrap"
jobs="${RULESYNC_BUILD_JOBS:-$(nproc 2>/dev/null || echo 1)}"

# consul_version prints the version the binary at $1 reports ("v1.14.11"), or
# nothing when it does not run.
consul_version() {
  "$1" version 2>/dev/null | awk 'NR == 1 && $1 == "Consul" { print $2 }' || true
}

if [ -x "$bin" ] && [ "$(consul_version "$bin")" = "$version" ]; then
  echo "setup-consul: consul $version present at $bin"
  exit 0
fi

if [ "${RULESYNC_SKIP_SERVER_INSTALL:-0}" = 1 ]; then
  echo "setup-consul: consul $version missing at $bin; build skipped (RULESYNC_SKIP_SERVER_INSTALL=1)" >&2
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  echo "setup-consul: go is not on PATH (Go 1.26 is required)" >&2
  exit 1
fi

case "$jobs" in
  '' | *[!0-9]* | 0)
    echo "setup-consul: RULESYNC_BUILD_JOBS=$jobs: want a positive integer" >&2
    exit 1
    ;;
esac

echo "setup-consul: building consul $version in $wrap (go build -p $jobs; several minutes when cold)"
mkdir -p "$wrap" "$bin_dir"
cd "$wrap"
# A go.work somewhere above the cache must not pull the wrapper into it.
export GOWORK=off

# go.mod is written afresh on every build so that a stale or hand-edited
# wrapper cannot change what gets built. The replace is the one in Consul's own
# go.mod (the gocheck import path moved); Consul's local ./api and ./sdk
# replaces are neither needed nor possible outside its repository. A go.sum
# from an earlier build is kept: it only holds content hashes (a wrong one
# fails the build), and without it tidy asks the checksum database about
# every module again, ~30 s even with a warm module cache.
cat >go.mod <<EOF
module consulwrap

go 1.26

require github.com/hashicorp/consul $version

replace launchpad.net/gocheck => github.com/go-check/check v0.0.0-20140225173054-eb6ee6f84d0a
EOF
cat >tools.go <<'EOF'
//go:build tools

// Package consulwrap only exists to build the Consul agent from the module
// proxy; nothing imports it.
package consulwrap

import _ "github.com/hashicorp/consul"
EOF

# Offline first: with the module cache warm this takes a second, while the
# proxy is asked about modules it already answered for (several seconds).
if ! GOPROXY=off go mod tidy 2>/dev/null; then
  go mod tidy
fi

# A module of the flagged two in the graph means the pin no longer holds: stop
# before anything is built from it.
flagged="$(go mod graph | grep -E 'hashicorp/consul/(envoyextensions|troubleshoot)' || true)"
if [ -n "$flagged" ]; then
  echo "setup-consul: FATAL: the module graph of consul $version holds modules that must not be used:" >&2
  echo "$flagged" >&2
  rm -f go.mod go.sum
  exit 1
fi

# Build to a temporary name and rename, so that an interrupted build never
# leaves a half-written binary where the fast path would find it.
tmp="$bin.tmp.$$"
trap 'rm -f "$tmp"' EXIT
nice -n 10 go build -p "$jobs" -ldflags "-s -w" -o "$tmp" github.com/hashicorp/consul

got="$(consul_version "$tmp")"
if [ "$got" != "$version" ]; then
  echo "setup-consul: FATAL: built binary reports version '${got:-none}', want $version" >&2
  "$tmp" version >&2 || true
  exit 1
fi
mv -f "$tmp" "$bin"
trap - EXIT
echo "setup-consul: built $bin ($("$bin" version | head -n 1))"
