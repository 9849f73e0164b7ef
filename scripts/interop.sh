#!/usr/bin/env bash
# Runs every scripts/interop_*.py against real torch (Debian python3-torch).
# Each script exits non-zero on failure and prints "interop_<area>: N passed, M failed".
set -u
cd "$(dirname "$0")/.."
PY=${QNNKIT_PYTHON:-/usr/bin/python3}
if ! "$PY" -c 'import torch, numpy' 2>/dev/null; then
  echo "interop: $PY cannot import torch and numpy." >&2
  echo "interop: install them with: apt-get install -y python3-torch python3-numpy libopenblas0-pthread" >&2
  exit 1
fi
fail=0 total_pass=0 total_fail=0
for s in scripts/interop_*.py; do
  [ -e "$s" ] || continue
  echo "== $s"
  out=$("$PY" "$s" 2>&1); rc=$?
  printf '%s\n' "$out" | tail -n 40
  line=$(printf '%s\n' "$out" | grep -E '^interop_[a-z0-9_]+: [0-9]+ passed, [0-9]+ failed' | tail -n 1)
  if [ -z "$line" ]; then
    echo "interop: $s printed no summary line" >&2; fail=1; total_fail=$((total_fail+1)); continue
  fi
  p=$(printf '%s' "$line" | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed.*/\1/')
  f=$(printf '%s' "$line" | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed.*/\2/')
  total_pass=$((total_pass+p)); total_fail=$((total_fail+f))
  if [ $rc -ne 0 ] || [ "$f" != 0 ]; then fail=1; fi
done
echo "interop: $total_pass passed, $total_fail failed"
exit $fail
