#!/usr/bin/env bash
# Installs apollo-mock-server (npm, another project's server for the read side
# of Apollo's config service) into $HOME/.cache/rulesync/apollo-mock-server,
# where integration/harness finds it (RULESYNC_APOLLO_MOCK_DIR overrides).
# Idempotent: when the pinned version is there it only reads a package.json.
# The project's own Apollo-protocol test server is Go code in the harness and
# needs no install.
#
# Environment:
#   RULESYNC_SKIP_SERVER_INSTALL=1  install nothing (the suites then skip, or
#                                   fail with RULESYNC_REQUIRE_SERVERS=1).
set -euo pipefail

version=1.2.0 # keep in step with harness.ApolloMockServerVersion
dir="${RULESYNC_APOLLO_MOCK_DIR:-$HOME/.cache/rulesync/apollo-mock-server}"
pkg="$dir/node_modules/apollo-mock-server/package.json"

if [ -f "$pkg" ] && grep -q "\"version\": \"$version\"" "$pkg"; then
  echo "setup-apollo: apollo-mock-server $version present in $dir"
  exit 0
fi
if [ "${RULESYNC_SKIP_SERVER_INSTALL:-0}" = 1 ]; then
  echo "setup-apollo: apollo-mock-server missing; install skipped (RULESYNC_SKIP_SERVER_INSTALL=1)" >&2
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "setup-apollo: npm is not on PATH (Node 20 + npm are needed for apollo-mock-server)" >&2
  exit 1
fi

mkdir -p "$dir"
# A package.json of its own keeps npm from looking for one further up.
[ -f "$dir/package.json" ] || echo '{"name":"rulesync-apollo-mock-server","private":true}' >"$dir/package.json"
echo "setup-apollo: installing apollo-mock-server@$version into $dir"
npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "apollo-mock-server@$version"
grep -q "\"version\": \"$version\"" "$pkg"
