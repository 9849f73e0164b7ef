#!/usr/bin/env bash
# Kernel benchmark: pkg/kernels MatMulT vs OpenBLAS sgemm (numpy `x @ w.T`)
# on [512×2048]·[2048×2048]ᵀ (prefill) and [1×2048]·[5504×2048]ᵀ (decode).
#
# The Go benchmark and the numpy script run alternately (which one goes first
# alternates too) for ROUNDS rounds
# (default 7) so that load from other processes on this shared machine hits
# both alike; the table gives the median, min and max GFLOP/s per shape and the
# ratio of medians Go/OpenBLAS. Each single figure is an average over about
# 1 s of back-to-back calls. Both sides use all cores (GOMAXPROCS and
# OpenBLAS's default thread count). OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are
# unset for the numpy runs so OpenBLAS picks its own kernel for this CPU (the
# core it chose is printed).
#
# Usage: scripts/bench_kernels.sh            (env: ROUNDS=n, BENCHTIME=1s)
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-7}
BENCHTIME=${BENCHTIME:-1s}
PY=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "building pkg/kernels test binary..." >&2
go test -c -o "$tmp/kernels.test" ./pkg/kernels
go version >&2
grep -m1 'model name' /proc/cpuinfo >&2 || true
echo "nproc $(nproc); load average: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

for v in OPENBLAS_CORETYPE OPENBLAS_L2_SIZE; do
	echo "$v=${!v-<unset>} in this environment (unset for the numpy runs)" >&2
done

results="$tmp/results.txt"
run_go() {
	"$tmp/kernels.test" -test.run '^$' -test.bench '^BenchmarkMatMulT$' \
		-test.benchtime "$BENCHTIME" | tee "$tmp/go.out" |
		awk '/^BenchmarkMatMulT\// {
			split($1, a, "/"); sub(/-[0-9]+$/, "", a[2])
			for (i = 2; i <= NF; i++) if ($i == "GFLOP/s") print "go", a[2], $(i-1)
		}' >>"$results"
}
run_numpy() {
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$PY" scripts/bench_kernels.py \
		--seconds "${BENCHTIME%s}" 2>"$tmp/py.err" >>"$results" || { cat "$tmp/py.err" >&2; exit 1; }
}
for r in $(seq 1 "$ROUNDS"); do
	# Alternate which side goes first so that a drift in the machine's load
	# does not favour one of them.
	if [ $((r % 2)) = 1 ]; then run_go; run_numpy; else run_numpy; run_go; fi
	if [ "$r" = 1 ]; then
		grep -m1 -o 'kernels implementation: .*' "$tmp/go.out" >&2 || true
		cat "$tmp/py.err" >&2
	fi
	echo "round $r/$ROUNDS (load $(cut -d' ' -f1 /proc/loadavg)):" $(tail -n 4 "$results" | sort | awk '{printf "%s %s %s; ", $1, $2, $3}') >&2
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

"$PY" - "$results" <<'PYEOF'
import statistics, sys
vals = {}
for line in open(sys.argv[1]):
    who, shape, v = line.split()
    vals.setdefault(shape, {}).setdefault(who, []).append(float(v))
print(f"{'shape':<18} {'Go median':>10} {'(min..max)':>16} {'OpenBLAS median':>16} {'(min..max)':>16} {'Go/OpenBLAS':>12}")
for shape in ("M512_N2048_K2048", "M1_N5504_K2048"):
    g, o = vals[shape]["go"], vals[shape]["openblas"]
    gm, om = statistics.median(g), statistics.median(o)
    print(f"{shape:<18} {gm:>10.1f} {f'({min(g):.1f}..{max(g):.1f})':>16} {om:>16.1f} "
          f"{f'({min(o):.1f}..{max(o):.1f})':>16} {gm/om:>12.2f}")
print(f"(GFLOP/s = 2·M·N·K / time; {len(g)} interleaved rounds)")
PYEOF
