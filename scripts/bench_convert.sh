#!/bin/bash
# Benchmark of `convert` on a ~2 GB bf16 safetensors checkpoint with
# Qwen1.5-1.8B tensor names and shapes (scripts/gen_formats synth, seeded),
# written to a temporary directory that is deleted afterwards.
#
#   scripts/bench_convert.sh [BYTES]      (default 2000000000)
#
# Reports throughput (input MB/s, warm page cache) and peak RSS
# (/usr/bin/time -v), checks peak RSS < 300 MB + the largest tensor, and
# validates the output with `convert inspect`. Exits non-zero on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
BYTES=${1:-2000000000}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench_convert.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

go build -o "$tmp/convert" ./cmd/convert
go build -o "$tmp/gen" ./scripts/gen_formats
"$tmp/gen" synth --bytes="$BYTES" --seed=1 "$tmp/model.safetensors"
in_bytes=$(stat -c %s "$tmp/model.safetensors")
largest=$("$tmp/convert" inspect --dump-json "$tmp/model.safetensors" | grep -o '"bytes":[0-9]*' | cut -d: -f2 | sort -n | tail -1)

/usr/bin/time -v "$tmp/convert" --quiet --type=safetensor \
	--input_model="$tmp/model.safetensors" --output_model="$tmp/model.mllm" \
	>"$tmp/stdout" 2>"$tmp/time"
cat "$tmp/stdout"
rss_kb=$(grep 'Maximum resident set size' "$tmp/time" | awk '{print $NF}')
wall=$(grep 'Elapsed (wall clock)' "$tmp/time" | awk '{print $NF}')
cpu=$(awk -F': ' '/User time|System time/ { s += $2 } END { print s }' "$tmp/time")
secs=$(echo "$wall" | awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }')
out_bytes=$(stat -c %s "$tmp/model.mllm")
"$tmp/convert" inspect "$tmp/model.mllm" >/dev/null

limit_kb=$(( (300 * 1000 * 1000 + largest) / 1024 ))
awk -v ib="$in_bytes" -v ob="$out_bytes" -v s="$secs" -v rss="$rss_kb" -v lim="$limit_kb" -v big="$largest" -v cpu="$cpu" 'BEGIN {
	printf "input   %.1f MB (bf16), output %.1f MB (f32), largest tensor %.1f MB\n", ib/1e6, ob/1e6, big/1e6
	printf "time    %.2f s wall (%.2f s CPU)   throughput %.1f MB/s in, %.1f MB/s out (CPU-bound rate %.1f MB/s in)\n", s, cpu, ib/1e6/s, ob/1e6/s, ib/1e6/cpu
	printf "peak RSS %.1f MB (limit 300 MB + largest tensor = %.1f MB)\n", rss*1024/1e6, lim*1024/1e6
}'
if [ "$rss_kb" -ge "$limit_kb" ]; then
	echo "bench_convert: FAIL: peak RSS ${rss_kb} kB >= ${limit_kb} kB"
	exit 1
fi
echo "bench_convert: ok"
