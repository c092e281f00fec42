#!/usr/bin/env bash
# Prints the directory of every Go module in the repository, the root (.) first.
set -euo pipefail
cd "$(dirname "$0")/.."
find . -name go.mod -not -path './.git/*' -not -path '*/testdata/*' | sed 's|/go.mod$||' | LC_ALL=C sort
