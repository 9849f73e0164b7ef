#!/bin/sh
# Decode and prefill speed of pkg/runtime on the bundled model, next to the
# FP32 forward of pkg/model in the same process, single-threaded
# (GOMAXPROCS=1). Two rates: by wall time, and by CPU time (which is what
# counts on a shared machine). Decode: one token per op at position ~128;
# PrefillChunk: one 128-row chunk of the int8 graph.
# Usage: scripts/bench_runtime.sh [benchtime, default 50x]
set -e
cd "$(dirname "$0")/.."
go test ./pkg/runtime/ -run '^$' -cpu 1 -bench 'Decode|PrefillChunk' -benchtime "${1:-50x}" |
	awk '/^Benchmark/ { n = ($1 ~ /Prefill/ ? 128 : 1);
		printf "%-32s wall %8.1f tokens/s   cpu %8.1f tokens/s\n", $1, n * 1e9 / $3, n * 1e9 / $5 }'
