#!/usr/bin/env bash
# Benchmark of the whole pipeline on a full-size synthetic checkpoint
# (scripts/gensynth: seeded bf16 weights with real shapes, HF names, the
# bundled tokenizer), reporting per step the wall time, CPU time (user +
# sys), peak RSS (GNU time -v) and throughput.
#
#   scripts/bench_pipeline.sh [1.8b|7b]          (default 1.8b)
#
# 1.8b (Qwen1.5-1.8B shapes, 24 layers, 3.7 GB bf16):
#   profile --stream   2 samples of ~1024 tokens (random_rotate, seed 1)
#   exportqnn          int8 NPU model (.mllm)
#   exportrot          rotated f32 model (.pth, as mllm's export_rotate_model.py)
#   convert            .pth → f32 .mllm (converter.py)
#   quantize           f32 .mllm → Q4_K decode model
#   run                deployed pair: prefill one 256-token chunk + decode 32
#   checks: profile peak RSS ≤ 4 GB.
# 7b (Qwen2-7B shapes, 28 layers, 15 GB bf16): profile --stream of one
#   ~512-token sample (plus a one-line second sample: num_samples must be ≥ 2)
#   and exportqnn; checks: both peak RSS ≤ 8 GB.
#
# Throughput: "f32 GB/s" is the model's float32 size (parameters × 4 B, the
# precision every step works in) per wall second, and per CPU second (the
# machine may be shared: compare CPU time with wall time); "in"/"out" are
# file bytes.
#
# Disk: the script first times writing 2 GB with fsync and reading it back
# with O_DIRECT (dd) in the work directory; every step that moves more than
# a second's worth of data prints the time the bytes its device read and
# wrote (/proc/diskstats) take at those speeds, one after the other ("disk
# floor"), and wall / floor: a ratio near 1 means the step runs at the
# speed of the disk. The disk's speed varies by 2x within minutes on shared
# machines, so each step also prints how much of its wall time the device
# was busy: near 100 % means the step is bound by the disk.
#
# Floors measured in the same run: after exportrot, dd writes as many
# bytes as its output with O_DIRECT (exportrot/floor near 1: the step
# writes at the speed of the disk); after convert, dd reads its input and
# writes as many bytes at once with O_DIRECT (convert/floor near 1: the
# step runs at the speed of the disk); after quantize, dd reads its input,
# its CPU time is spread over every core (quantize/max of the two near 1:
# bound by the disk or the cores), and quantize runs again on its input
# cached while dd reads that input from the device: the time this machine
# takes to compute and read at once (quantize/that near 1: the step
# overlaps its reading with its computing as well as two processes can).
#
# Every step also prints the CPU time stolen from the VM while it ran
# (/proc/stat steal): on a VM, disk reads cost the vCPUs time this way.
#
# Environment: BENCH_DIR (work directory, default a new one under $TMPDIR or
# /tmp, deleted at the end unless KEEP=1), SYNTH (an existing gensynth model
# directory of the chosen shape to reuse instead of generating one).
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-1.8b}
case "$MODE" in
1.8b) SHAPE=qwen1.5-1.8b need_gb=26 ;;
7b) SHAPE=qwen2-7b need_gb=30 ;;
*)
	echo "usage: $0 [1.8b|7b]" >&2
	exit 2
	;;
esac
ROOT=$(pwd)
W=${BENCH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/bench_pipeline.XXXXXX")}
mkdir -p "$W"
if [ "${KEEP:-0}" != 1 ]; then trap 'rm -rf "$W"' EXIT; fi
df -h "$W" | tail -1
avail_gb=$(df --output=avail -B1G "$W" | tail -1 | tr -d ' ')
if [ "$avail_gb" -lt "$need_gb" ]; then
	echo "bench_pipeline: $avail_gb GB free in $W, this mode needs about $need_gb GB" >&2
	exit 1
fi

# secs_since T0: seconds from T0 (date +%s.%N) to now, one decimal.
secs_since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }
# write_as_many LIKE OUT: dd writes as many bytes as LIKE has (whole 8 MB
# blocks) to OUT with O_DIRECT and fsync.
write_as_many() { dd if=/dev/zero of="$2" bs=8M count=$(($(stat -c %s "$1") / 8388608)) oflag=direct conv=fsync 2>/dev/null; }
declare -a SUMMARY
# summary_line TEXT: prints TEXT and keeps it for the summary at the end.
summary_line() {
	echo "$1"
	SUMMARY+=("$1")
}

BIN=$W/bin
mkdir -p "$BIN"
go build -o "$BIN/" ./cmd/profile ./cmd/exportqnn ./cmd/exportrot ./cmd/convert ./cmd/quantize ./cmd/run ./scripts/gensynth

M=${SYNTH:-$W/model}
if [ ! -f "$M/model.safetensors" ]; then
	t0=$(date +%s.%N)
	"$BIN/gensynth" --shape="$SHAPE" --seed=1 "$M"
	echo "[gensynth] $(secs_since "$t0") s"
fi
# Reference: sequential write speed of the work directory's disk, with
# fsync, measured in this run (the steps write large outputs with O_DIRECT
# and fsync at the end).
dd_mbs() { awk '/copied/ { for (i = 1; i <= NF; i++) if ($i == "s,") t = $(i-1); print 2048*1048576/1e6/t }'; }
DISK_MBS=$(dd if=/dev/zero of="$W/dd.bin" bs=1M count=2048 conv=fsync 2>&1 | dd_mbs)
# and sequential read speed, around the page cache as the steps read cold
# inputs (O_DIRECT, 8 MB blocks)
DISK_READ_MBS=$(dd if="$W/dd.bin" of=/dev/null bs=8M iflag=direct 2>&1 | dd_mbs)
rm -f "$W/dd.bin"
echo "disk: $DISK_MBS MB/s sequential write with fsync, $DISK_READ_MBS MB/s direct read (dd, 2 GB)"

# The work directory's block device, for its busy time per step
# (/proc/diskstats: field 13 is the milliseconds the device had I/O in
# flight, 6 and 10 the sectors read and written): a step with the disk
# busy nearly all of its wall time is bound by the disk, whatever dd said.
DEV=$(basename "$(df --output=source "$W" | tail -1)")
grep -q " $DEV " /proc/diskstats || DEV=""
diskstat() { # prints "io_ms sectors_read sectors_written" of $DEV
	if [ -n "$DEV" ]; then awk -v d="$DEV" '$3 == d { print $13, $6, $10 }' /proc/diskstats; else echo "0 0 0"; fi
}

CK_BYTES=$(stat -c %s "$M/model.safetensors")
PARAMS=$((CK_BYTES / 2)) # bf16: 2 bytes per parameter (the header is negligible)
F32_BYTES=$((PARAMS * 4))
echo "model: $M ($SHAPE, $(awk -v b="$CK_BYTES" 'BEGIN{printf "%.2f", b/1e9}') GB bf16, $(awk -v p="$PARAMS" 'BEGIN{printf "%.2f", p/1e9}') G parameters)"

# Calibration set: jsonl of Austen text cut to give about the wanted tokens
# (the bundled tokenizer averages ~3.3 characters per token).
mkdir -p "$W/calib"
/usr/bin/python3 - "$MODE" "$W/calib/cal.jsonl" <<'EOF'
import json, sys
mode, out = sys.argv[1], sys.argv[2]
t = open("testdata/text/austen-persuasion.txt", encoding="utf-8").read()
if mode == "1.8b":
    texts = [t[20000:23380], t[60000:63380]]
else:
    texts = [t[20000:21690], "It was a fine day."]
with open(out, "w") as f:
    for x in texts:
        f.write(json.dumps({"text": x}) + "\n")
EOF

CFG=$W/cfg.json
cat >"$CFG" <<EOF
{
    "profile_config": {
        "dataset_path": "$W/calib/cal.jsonl",
        "output_path": "$W/scales.json",
        "num_samples": 2,
        "no_bias": true,
        "model_config": {
            "model_type": "qwen2", "tokenizer_name": "$M", "model_name": "$M",
            "online_rotation": true, "random_rotate": true, "save_rotation": "$W/R.bin"
        }
    },
    "export_config": {
        "scale_file": "$W/scales.json",
        "output_model": "$W/npu.mllm",
        "t01m_clip_threshold": 64,
        "quant_bias": false,
        "model_config": {
            "model_type": "qwen2", "tokenizer_name": "$M", "model_name": "$M",
            "online_rotation": true, "R_path": "$W/R.bin"
        }
    }
}
EOF

# CPU time the hypervisor gave to others while a step ran (/proc/stat
# "steal", in clock ticks): on a VM, the host's work for the guest's disk
# I/O is taken from the vCPUs this way, so a step that computes while it
# reads loses CPU that its own user and system times do not show.
TICK=$(getconf CLK_TCK)
steal_ticks() { awk '/^cpu / { print $9 }' /proc/stat; }

status=0
# step LABEL IN_BYTES OUT_FILE EXTRA -- CMD...: runs CMD under GNU time -v
# and prints wall, CPU, peak RSS and throughput.
step() {
	local label=$1 in_bytes=$2 out_file=$3 extra=$4
	shift 5
	echo "== $label: $*" | sed "s#$W#\$W#g"
	sync
	local ds0 ds1 st0 st1
	ds0=$(diskstat)
	st0=$(steal_ticks)
	if ! /usr/bin/time -v "$@" >"$W/$label.out" 2>"$W/$label.err"; then
		tail -20 "$W/$label.err"
		echo "[$label] FAILED"
		exit 1
	fi
	grep -v '^\s' "$W/$label.err" | grep -iv 'command being timed' | grep -E 'tokens|saved|clip input num|wrote|run:' | head -5 || true
	ds1=$(diskstat)
	st1=$(steal_ticks)
	LAST_STEAL=$(awk -v a="$st0" -v b="$st1" -v t="$TICK" 'BEGIN{printf "%.1f", (b-a)/t}')
	local rss_kb wall cpu secs out_bytes=0
	rss_kb=$(grep 'Maximum resident set size' "$W/$label.err" | awk '{print $NF}')
	wall=$(grep 'Elapsed (wall clock)' "$W/$label.err" | awk '{print $NF}')
	cpu=$(awk -F': ' '/User time|System time/ { s += $2 } END { print s }' "$W/$label.err")
	secs=$(echo "$wall" | awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }')
	[ -n "$out_file" ] && [ -f "$out_file" ] && out_bytes=$(stat -c %s "$out_file")
	local line
	line=$(awk -v l="$label" -v s="$secs" -v c="$cpu" -v rss="$rss_kb" -v ib="$in_bytes" -v ob="$out_bytes" -v f="$F32_BYTES" -v x="$extra" -v d="$DISK_MBS" -v dr="$DISK_READ_MBS" -v ds0="$ds0" -v ds1="$ds1" -v dev="$DEV" -v st="$LAST_STEAL" 'BEGIN {
		printf "%-10s wall %7.1f s  CPU %7.1f s  peak RSS %6.2f GB  f32 %6.3f GB/s (%6.3f GB per CPU-s)  in %6.2f GB (%6.3f GB/s)  out %6.2f GB",
			l, s, c, rss*1024/1e9, f/1e9/s, f/1e9/c, ib/1e9, ib/1e9/s, ob/1e9
		split(ds0, a, " "); split(ds1, z, " ")
		if (dev != "" && d > 0 && dr > 0) { # the bytes the device moved, at the reference speeds
			b = (z[3] - a[3]) * 512 / 1e6 / d + (z[2] - a[2]) * 512 / 1e6 / dr
			if (b > 1) printf "  disk floor %5.1f s (wall/floor %.2f)", b, s/b
		}
		if (dev != "" && s > 0) { # device busy time, and its rate while busy
			busy = (z[1] - a[1]) / 1000; wr = (z[3] - a[3]) * 512; rd = (z[2] - a[2]) * 512
			rate = 0
			if (busy > 0) rate = (wr + rd) / 1e6 / busy
			printf "  %s busy %3.0f%% (wrote %.2f GB, read %.2f GB; %.0f MB/s while busy)", dev, 100*busy/s, wr/1e9, rd/1e9, rate
		}
		printf "  steal %.1f s  %s", st, x
	}')
	summary_line "$line"
	LAST_RSS_KB=$rss_kb
	LAST_SECS=$secs
	LAST_CPU=$cpu
}
rss_check() { # LABEL LIMIT_GB
	if [ "$LAST_RSS_KB" -gt $(($2 * 1000 * 1000 * 1000 / 1024)) ]; then
		echo "[$1] FAIL: peak RSS $((LAST_RSS_KB / 1024)) MB > $2 GB"
		status=1
	else
		echo "[$1] ok: peak RSS $((LAST_RSS_KB / 1024)) MB ≤ $2 GB"
	fi
}

step profile "$CK_BYTES" "$W/scales.json" "" -- \
	"$BIN/profile" --config_file "$CFG" --stream --seed 1 --plot none --quiet --dump-tokens "$W/tokens.json"
tokens=$(/usr/bin/python3 -c "import json,sys; print(' + '.join(str(len(s)) for s in json.load(open(sys.argv[1]))['samples']))" "$W/tokens.json")
total=$(($tokens))
echo "profile: $tokens = $total tokens, $(awk -v t="$total" -v s="$LAST_SECS" 'BEGIN{printf "%.1f", t/s}') tokens/s"
SUMMARY[-1]="${SUMMARY[-1]} ($total tokens, $(awk -v t="$total" -v s="$LAST_SECS" 'BEGIN{printf "%.1f", t/s}') tok/s)"
if [ "$MODE" = 1.8b ]; then rss_check profile 4; else rss_check profile 8; fi

step exportqnn "$CK_BYTES" "$W/npu.mllm" "" -- \
	"$BIN/exportqnn" --config_file "$CFG" --output_model "$W/npu.mllm"
if [ "$MODE" = 7b ]; then
	rss_check exportqnn 8
else
	step exportrot "$CK_BYTES" "$W/rot.pth" "" -- \
		"$BIN/exportrot" --config_file "$CFG" --output_model "$W/rot.pth"
	# exportrot's floor, measured now: dd writing as many bytes with
	# O_DIRECT and fsync (its output is most of what it moves).
	exportrot_secs=$LAST_SECS
	t0=$(date +%s.%N)
	write_as_many "$W/rot.pth" "$W/copy.bin"
	write_secs=$(secs_since "$t0")
	rm -f "$W/copy.bin"
	summary_line "exportrot floor: dd writes as many bytes in $write_secs s; exportrot/floor $(awk -v c="$exportrot_secs" -v f="$write_secs" 'BEGIN{printf "%.2f", c/f}')"
	step convert "$(stat -c %s "$W/rot.pth")" "$W/rot.mllm" "" -- \
		"$BIN/convert" --quiet --type=torch --input_model "$W/rot.pth" --output_model "$W/rot.mllm"
	convert_secs=$LAST_SECS
	# convert's floor, measured now: the same bytes read and written by
	# dd with O_DIRECT, at once (the device shares its bandwidth between
	# reads and writes: read then write takes as long).
	sync
	t0=$(date +%s.%N)
	dd if="$W/rot.pth" of=/dev/null bs=8M iflag=direct 2>/dev/null &
	write_as_many "$W/rot.pth" "$W/copy.bin"
	wait
	copy_secs=$(secs_since "$t0")
	rm -f "$W/copy.bin" "$W/rot.pth"
	summary_line "convert floor: dd reads its input and writes as many bytes at once in $copy_secs s; convert/floor $(awk -v c="$convert_secs" -v f="$copy_secs" 'BEGIN{printf "%.2f", c/f}')"
	step quantize "$(stat -c %s "$W/rot.mllm")" "$W/dec.mllm" "" -- \
		"$BIN/quantize" "$W/rot.mllm" "$W/dec.mllm" Q4_K
	quantize_secs=$LAST_SECS
	quantize_cpu=$LAST_CPU
	quantize_steal=$LAST_STEAL
	# quantize's floors, measured now: reading its (cold) input with dd;
	# its CPU time spread over every core; and both at once, as two
	# processes: quantize again, on its input now in the page cache (so
	# it only computes and writes), while dd reads the same input from
	# the device with O_DIRECT. The last is what this machine takes to do
	# quantize's reading and its computing together; on a VM the reads
	# cost the vCPUs time (steal), so it can exceed both others.
	t0=$(date +%s.%N)
	dd if="$W/rot.mllm" of=/dev/null bs=8M iflag=direct 2>/dev/null
	read_secs=$(secs_since "$t0")
	cat "$W/rot.mllm" >/dev/null
	resident=""
	if command -v fincore >/dev/null; then
		resident=$(fincore --bytes --noheadings --output RES,SIZE "$W/rot.mllm" | awk '{printf "%.0f", 100*$1/$2}')
	fi
	st0=$(steal_ticks)
	t0=$(date +%s.%N)
	dd if="$W/rot.mllm" of=/dev/null bs=8M iflag=direct 2>/dev/null &
	"$BIN/quantize" --quiet "$W/rot.mllm" "$W/dec2.mllm" Q4_K >/dev/null
	wait
	both_secs=$(secs_since "$t0")
	both_steal=$(awk -v a="$st0" -v b="$(steal_ticks)" -v t="$TICK" 'BEGIN{printf "%.1f", (b-a)/t}')
	if ! cmp -s "$W/dec.mllm" "$W/dec2.mllm"; then
		echo "[quantize] FAIL: a second run on the same input wrote different bytes"
		status=1
	fi
	rm -f "$W/dec2.mllm" "$W/dec2.mllm.manifest.json"
	summary_line "quantize floors: dd reads its input in $read_secs s; its CPU time over $(nproc) cores is $(awk -v c="$quantize_cpu" -v n="$(nproc)" 'BEGIN{printf "%.1f", c/n}') s ($(awk -v c="$quantize_cpu" -v s="$quantize_steal" -v n="$(nproc)" 'BEGIN{printf "%.1f", (c+s)/n}') s with the CPU time stolen from the VM meanwhile); quantize/max $(awk -v q="$quantize_secs" -v r="$read_secs" -v c="$quantize_cpu" -v n="$(nproc)" 'BEGIN{m = r; if (c/n > m) m = c/n; printf "%.2f", q/m}'); quantize on its cached input while dd reads it: $both_secs s (steal $both_steal s${resident:+, input ${resident} % cached}), quantize/that $(awk -v q="$quantize_secs" -v b="$both_secs" 'BEGIN{printf "%.2f", q/b}')"
	rm -f "$W/rot.mllm"
	prompt=$(/usr/bin/python3 -c "t=open('testdata/text/austen-persuasion.txt',encoding='utf-8').read(); print(' '.join(t[30000:30700].split()))")
	step run "$(($(stat -c %s "$W/npu.mllm") + $(stat -c %s "$W/dec.mllm")))" "" "" -- \
		"$BIN/run" -m "$W/npu.mllm" --decoding-model "$W/dec.mllm" --tokenizer "$M/tokenizer.json" \
		--config "$M/config.json" --prompt "$prompt" --max-new-tokens 32 --chunk 256 --limits 600 --thread 2
	speeds=$(grep -o 'prompt [0-9]* tokens, prefill [0-9.]* tokens/s.*decode [0-9.]* tokens/s' "$W/run.err" || true)
	echo "run: $speeds"
	SUMMARY[-1]="${SUMMARY[-1]} ($speeds)"
fi

echo
echo "bench_pipeline $MODE summary ($(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg); disk $DISK_MBS MB/s write with fsync, $DISK_READ_MBS MB/s direct read):"
printf '%s\n' "${SUMMARY[@]}"
exit $status
