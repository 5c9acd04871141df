#!/usr/bin/env bash
# Runs every test: the lint/format check, the build, then all *.test.ts files
# under src/ and bench/ with node's built-in runner. Node 20 neither globs nor
# picks up .ts files from a directory, so the files are listed explicitly.
#   --unit   skip the root-only end-to-end tests (*.e2e.test.ts)
set -euo pipefail
cd "$(dirname "$0")/.."

pattern='*.test.ts'
exclude=()
if [[ "${1:-}" == "--unit" ]]; then
  exclude=(-not -name '*.e2e.test.ts')
  shift
fi

echo "== lint: tsc --noEmit, prettier --check"
npx tsc -p tsconfig.json --noEmit
npx prettier --check . >/dev/null || { npx prettier --check . ; exit 1; }

echo "== build"
npm run --silent build

mapfile -t files < <(find src bench -name "$pattern" "${exclude[@]}" | sort)
if [[ ${#files[@]} -eq 0 ]]; then
  echo "no test files found" >&2
  exit 1
fi
echo "== ${#files[@]} test files"
exec node --import tsx --test --test-reporter=spec --test-concurrency="${TEST_CONCURRENCY:-2}" "$@" "${files[@]}"
