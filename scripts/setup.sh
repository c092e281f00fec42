#!/usr/bin/env bash
# Installs everything `make test` needs on a fresh Debian machine, and does
# nothing slow when it is already there: Go modules, then the real servers the
# integration suites start (scripts/setup-servers.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v go >/dev/null 2>&1; then
  echo "setup: go is not on PATH (Go 1.26 is required)" >&2
  exit 1
fi

for m in $(scripts/modules.sh); do (cd "$m" && GOWORK=off go mod download); done

if [ -x scripts/setup-servers.sh ]; then
  scripts/setup-servers.sh
fi
