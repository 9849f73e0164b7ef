#!/usr/bin/env bash
# Peak RSS of profile on the bundled model with 8 and with 64 calibration
# samples (issue #4: the 64-sample run must stay within 10 % of the
# 8-sample run: memory must not grow with the number of samples).
#
#   scripts/bench_profile_rss.sh [REPS]     (default 3 runs of each)
#
# Runs configs/tinyqwen2.json with num_samples 8 and 64 and --seed 1,
# outputs in a temporary directory, alternating the two sizes; prints every
# run's peak RSS (GNU time -v), the medians and their ratio, and checks that
# repeated runs give byte-identical scale JSON.
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${1:-3}
W=$(mktemp -d "${TMPDIR:-/tmp}/bench_profile_rss.XXXXXX")
trap 'rm -rf "$W"' EXIT
go build -o "$W/profile" ./cmd/profile
for n in 8 64; do
	sed -e "s/\"num_samples\": 16/\"num_samples\": $n/" -e "s#out/tinyqwen2/#$W/o$n/#g" configs/tinyqwen2.json >"$W/c$n.json"
done
declare -A rss
for r in $(seq "$REPS"); do
	for n in 8 64; do
		/usr/bin/time -v "$W/profile" --config_file "$W/c$n.json" --seed 1 --plot none -q >/dev/null 2>"$W/time.txt"
		kb=$(awk '/Maximum resident set size/ {print $NF}' "$W/time.txt")
		wall=$(awk '/Elapsed \(wall clock\)/ {print $NF}' "$W/time.txt")
		echo "run $r: $n samples: peak RSS $((kb / 1024)) MB (wall $wall)"
		rss[$n]="${rss[$n]:-} $kb"
		f="$W/o$n/tinyqwen2-rot-dis.json"
		if [ -f "$W/first$n.json" ]; then
			cmp -s "$f" "$W/first$n.json" || { echo "scale JSON of $n samples differs between runs"; exit 1; }
		else
			cp "$f" "$W/first$n.json"
		fi
	done
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
m8=$(echo "${rss[8]}" | median)
m64=$(echo "${rss[64]}" | median)
awk -v a="$m8" -v b="$m64" 'BEGIN {
	printf "median peak RSS: 8 samples %.1f MB, 64 samples %.1f MB, ratio %.3f (limit 1.10)\n", a/1024, b/1024, b/a
	exit (b/a > 1.10)
}'
