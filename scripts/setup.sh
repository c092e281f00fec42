#!/usr/bin/env bash
# Installs everything `make test` needs on a fresh Debian machine, and does
# nothing slow when it is already there: Go modules, then the real servers the
# integration suites start and the Java peers of the interop tests, each from
# a script of its own (RULESYNC_SKIP_SERVER_INSTALL=1 makes them install
# nothing; the suites then skip, or fail with RULESYNC_REQUIRE_SERVERS=1).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v go >/dev/null 2>&1; then
  echo "setup: go is not on PATH (Go 1.26 is required)" >&2
  exit 1
fi

for m in $(scripts/modules.sh); do (cd "$m" && GOWORK=off go mod download); done

for script in setup-servers.sh setup-consul.sh setup-java.sh setup-nacos.sh setup-dashboard.sh setup-apollo.sh; do
  echo "setup: $script"
  "scripts/$script"
done
