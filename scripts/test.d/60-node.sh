#!/usr/bin/env bash
# Node binding (bindings/node): `npm install <path>` into a fresh folder
# (with undici, express and fastify for fusebox/http),
# which builds the addon from source (its "install" script runs the napi
# CLI, release mode); then the `node --test` suite against the installed
# package, `tsc --noEmit` of a TypeScript usage file against its types, and
# a check that the committed generated files (native.js, native.d.ts) are
# what the build generates.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/need.sh
need_cargo
# Debian 12's nodejs is 18, older than the package's engines (>= 20).
need --check 'node -e "process.exit(parseInt(process.versions.node) >= 20 ? 0 : 1)"' 'node >= 20' \
  manual "install Node.js 20 or newer with npm (e.g. NodeSource's Debian packages)"
need npm manual "install npm (it comes with Node.js 20 from nodejs.org or NodeSource)"
need mktemp apt coreutils
repo=$PWD
pkg=$repo/bindings/node
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cd "$tmp"
npm init -y >/dev/null
# Always build from the sources at hand, even if a stale addon lies in the
# package folder (a clean clone has none: the build happens either way).
# With what fusebox/http's tests and types run against: the package's
# devDependencies (undici, express, fastify) at their versions (an
# installed path gets none of them).
read -r -a dev <<<"$(node -e 'const d = require(process.argv[1]).devDependencies; console.log(Object.entries(d).map(([k, v]) => `${k}@${v}`).join(" "))' "$pkg/package.json")"
FUSEBOX_BUILD_FROM_SOURCE=1 npm install --no-audit --no-fund --loglevel=error \
  "$pkg" typescript@5 @types/node@20 "${dev[@]}"

# The napi CLI (the addon's build) came with the package; tsc comes from
# typescript@5.
need --check '[ -x node_modules/.bin/tsc ]' tsc manual "npm install typescript@5 (see npm's output above)"

cp -r "$pkg/test" "$tmp/test"
FUSEBOX_SCENARIOS="$repo/scenarios" node --test test/*.test.js
node_modules/.bin/tsc -p test/tsconfig.json
echo "tsc --noEmit: ok"

# Not in a git checkout (a source tarball), there is nothing to compare.
if [ -e "$repo/.git" ]; then
  need git apt git
  git -C "$repo" diff --exit-code -- bindings/node/native.js bindings/node/native.d.ts
  echo "generated native.js / native.d.ts: as committed"
fi
