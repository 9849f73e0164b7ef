#!/bin/bash
# Benchmark of `convert` on a ~2 GB bf16 safetensors checkpoint with
# Qwen1.5-1.8B tensor names and shapes (scripts/gen_formats synth, seeded),
# written to a temporary directory that is deleted afterwards. The same
# tensors are then re-saved as a PyTorch pytorch_model.bin (pkg/pth) and
# converted with --type=torch.
#
#   scripts/bench_convert.sh [BYTES]      (default 2000000000)
#
# For each run: throughput (input MB/s, warm page cache; the output is
# fsync'ed) and peak RSS from GNU time -v; fails if peak RSS >= 300 MB +
# the largest tensor; validates the output with `convert inspect`.
set -euo pipefail
cd "$(dirname "$0")/.."
BYTES=${1:-2000000000}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench_convert.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

go build -o "$tmp/convert" ./cmd/convert
go build -o "$tmp/gen" ./scripts/gen_formats
"$tmp/gen" synth --bytes="$BYTES" --seed=1 "$tmp/model.safetensors"
largest=$("$tmp/convert" inspect --dump-json "$tmp/model.safetensors" | grep -o '"bytes":[0-9]*' | cut -d: -f2 | sort -n | tail -1)

# run_bench LABEL TYPE INPUT
status=0
run_bench() {
	local label=$1 typ=$2 input=$3
	local in_bytes rss_kb wall cpu secs out_bytes limit_kb
	in_bytes=$(stat -c %s "$input")
	/usr/bin/time -v "$tmp/convert" --quiet --type="$typ" \
		--input_model="$input" --output_model="$tmp/model.mllm" \
		>"$tmp/stdout" 2>"$tmp/time"
	cat "$tmp/stdout"
	rss_kb=$(grep 'Maximum resident set size' "$tmp/time" | awk '{print $NF}')
	wall=$(grep 'Elapsed (wall clock)' "$tmp/time" | awk '{print $NF}')
	cpu=$(awk -F': ' '/User time|System time/ { s += $2 } END { print s }' "$tmp/time")
	secs=$(echo "$wall" | awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }')
	out_bytes=$(stat -c %s "$tmp/model.mllm")
	"$tmp/convert" inspect "$tmp/model.mllm" >/dev/null
	rm -f "$tmp/model.mllm"
	limit_kb=$(( (300 * 1000 * 1000 + largest) / 1024 ))
	awk -v l="$label" -v ib="$in_bytes" -v ob="$out_bytes" -v s="$secs" -v rss="$rss_kb" \
		-v lim="$limit_kb" -v big="$largest" -v cpu="$cpu" 'BEGIN {
		printf "[%s] input %.1f MB (bf16), output %.1f MB (f32), largest tensor %.1f MB\n", l, ib/1e6, ob/1e6, big/1e6
		printf "[%s] %.2f s wall, %.2f s CPU: %.1f MB/s in, %.1f MB/s out (%.1f MB/s in per CPU second)\n", l, s, cpu, ib/1e6/s, ob/1e6/s, ib/1e6/cpu
		printf "[%s] peak RSS %.1f MB (limit 300 MB + largest tensor = %.1f MB)\n", l, rss*1024/1e6, lim*1024/1e6
	}'
	if [ "$rss_kb" -ge "$limit_kb" ]; then
		echo "[$label] FAIL: peak RSS ${rss_kb} kB >= ${limit_kb} kB"
		status=1
	fi
}

run_bench safetensors safetensor "$tmp/model.safetensors"
"$tmp/gen" topth "$tmp/model.safetensors" "$tmp/pytorch_model.bin"
rm -f "$tmp/model.safetensors"
run_bench pytorch torch "$tmp/pytorch_model.bin"
if [ "$status" -ne 0 ]; then
	echo "bench_convert: FAIL"
	exit 1
fi
echo "bench_convert: ok"
