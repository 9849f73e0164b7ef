#!/usr/bin/env bash
# Runs every Go fuzz target for a short time (default 10s each), one at a time.
#
# A finding always writes a reproducer to <pkg>/testdata/fuzz/<target>/ and
# fails the run. Go's fuzzing engine can also exit non-zero without a
# finding when -fuzztime ends while a worker is mid-input ("context deadline
# exceeded", golang/go#51484; seen here on a loaded 2-core machine): such a
# run prints its whole output, the target's corpus is replayed, and the
# fuzzing runs once more; a second failure fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
t=${1:-10s}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# corpus_files lists the target's committed and newly written inputs.
corpus_files() { ls "$1/testdata/fuzz/$2" 2>/dev/null | sort || true; }

fuzz_once() { # pkg target
  go test -run='^$' -fuzz="^$2\$" -fuzztime="$t" -parallel=2 "$1" >"$log" 2>&1
}

for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for f in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "fuzz $pkg $f ($t)"
    before=$(corpus_files "$dir" "$f")
    if fuzz_once "$pkg" "$f"; then
      tail -n 3 "$log"
      continue
    fi
    cat "$log"
    if [ "$(corpus_files "$dir" "$f")" != "$before" ] || grep -q "Failing input written to" "$log"; then
      echo "fuzz: $pkg $f found a failing input (written under $dir/testdata/fuzz/$f)" >&2
      exit 1
    fi
    echo "fuzz: $pkg $f exited non-zero without a reproducer; replaying its corpus and fuzzing once more"
    go test -count=1 -run="^$f\$" "$pkg"
    if ! fuzz_once "$pkg" "$f"; then
      cat "$log"
      echo "fuzz: $pkg $f failed twice" >&2
      exit 1
    fi
    tail -n 3 "$log"
  done
done
