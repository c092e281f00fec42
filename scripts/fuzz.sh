#!/usr/bin/env bash
# Runs every fuzz target of every module, each for the given budget (default
# 200000 executions). A count ("200000x") is the default rather than a duration
# because Go 1.26's fuzzer can report "context deadline exceeded" at the end of a
# duration-limited run without any failing input.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOWORK=off
t=${1:-200000x}
for m in $(scripts/modules.sh); do
  (
    cd "$m"
    for pkg in $(go list ./...); do
      dir=$(go list -f '{{.Dir}}' "$pkg")
      for f in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | awk '{print $2}'); do
        echo "== $pkg $f ($t)"
        go test -run '^$' -fuzz "^${f}\$" -fuzztime "$t" "$pkg"
      done
    done
  )
done
