#!/usr/bin/env bash
# The test command of README.md: format check, vet, Go tests, brief fuzzing,
# and the torch interop check. Set QNNKIT_NO_TORCH=1 to run only the Go parts
# on a machine without Debian's python3-torch (the script then says so).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== gofmt"
bad=$(gofmt -l ./pkg ./cmd ./internal 2>/dev/null || true)
if [ -n "$bad" ]; then echo "gofmt needed on:"; echo "$bad"; exit 1; fi
echo "== go vet"
go vet ./...
echo "== go test"
go test -count=1 -timeout 30m ./...
echo "== fuzz (brief)"
bash scripts/fuzz.sh "${QNNKIT_FUZZTIME:-10s}"
if [ "${QNNKIT_NO_TORCH:-0}" = 1 ]; then
  echo "== interop: NOT RUN (QNNKIT_NO_TORCH=1); CI runs it"
  exit 0
fi
echo "== interop (real torch)"
make -s build
bash scripts/interop.sh
