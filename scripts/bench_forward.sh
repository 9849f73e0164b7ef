#!/usr/bin/env bash
# FP32 forward throughput of the bundled model: qnnkit (pkg/model) against
# Debian's torch (scripts/torch_qwen2.py) on the same 512-token prefill
# (all rows' logits), both on 2 threads. Rounds alternate Go and torch;
# each round times ITERS forwards after a warm-up; medians are printed.
# torch on 1 thread is measured too, as context: on a loaded machine
# torch's 2-thread OpenMP/OpenBLAS runs can be far slower than 1 thread.
#
#   scripts/bench_forward.sh [ROUNDS=5] [ITERS=5]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-5}
ITERS=${2:-5}
PY=${QNNKIT_PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go test -c -o "$tmp/model.test" ./pkg/model

torch_round() { # threads
  OMP_NUM_THREADS=$1 OPENBLAS_NUM_THREADS=$1 "$PY" - "$ITERS" "$1" <<'PY'
import sys, time
sys.path.insert(0, "scripts")
import torch
import torch_qwen2 as tq
torch.set_num_threads(int(sys.argv[2]))
iters = int(sys.argv[1])
m = tq.load_model("testdata/tinyqwen2")
ids = [(i * 7919 + 13) % m.config.vocab_size for i in range(512)]  # as BenchmarkForwardPrefill512
tq.forward(m, ids)  # warm-up
t0 = time.perf_counter()
for _ in range(iters):
    tq.forward(m, ids)
dt = time.perf_counter() - t0
print("%.1f" % (512 * iters / dt))
PY
}

go_round() {
  (cd pkg/model && GOMAXPROCS=2 "$tmp/model.test" -test.run '^$' -test.bench '^BenchmarkForwardPrefill512$' \
    -test.benchtime "${ITERS}x") | awk '/tokens\/s/ { for (i = 1; i < NF; i++) if ($(i+1) == "tokens/s") print $i }'
}

median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR+1)/2]; else printf "%.1f\n", (a[NR/2] + a[NR/2+1]) / 2 }'; }

: >"$tmp/go" ; : >"$tmp/torch" ; : >"$tmp/torch1"
for r in $(seq "$ROUNDS"); do
  g=$(go_round); t=$(torch_round 2); t1=$(torch_round 1)
  echo "round $r: qnnkit $g tokens/s, torch $t tokens/s (1 thread: $t1)" >&2
  echo "$g" >>"$tmp/go"; echo "$t" >>"$tmp/torch"; echo "$t1" >>"$tmp/torch1"
done
gm=$(median <"$tmp/go"); tm=$(median <"$tmp/torch"); t1m=$(median <"$tmp/torch1")
echo "fp32 forward, tinyqwen2, prefill 512 (all logits), 2 threads, median of $ROUNDS rounds x $ITERS (load average: $(cut -d" " -f1-3 /proc/loadavg)):"
echo "  qnnkit: $gm tokens/s"
echo "  torch $("$PY" -c 'import torch; print(torch.__version__)'): $tm tokens/s"
echo "  (torch on 1 thread: $t1m tokens/s)"
awk -v g="$gm" -v t="$tm" 'BEGIN { printf "  ratio qnnkit/torch: %.2f\n", g / t }'
