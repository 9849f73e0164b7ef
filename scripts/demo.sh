#!/usr/bin/env bash
# The main job of README.md: run the whole qnnkit pipeline on the bundled
# tiny Qwen2 model (testdata/tinyqwen2) and show what the deployed pair does.
#
#   profile   -> scale JSON + R file + range plot
#   exportqnn -> int8 NPU prefill model (.mllm)
#   exportrot -> fp32 rotated model (.mllm)
#   quantize  -> q4_k CPU decode model (.mllm)
#   convert   -> mllm vocab (.mllm + merges.txt)
#   run       -> a sample answer and the accuracy report of the deployed pair
set -euo pipefail
cd "$(dirname "$0")/.."
CFG=configs/tinyqwen2.json
OUT=out/tinyqwen2
BIN=bin
mkdir -p "$OUT"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
t0=$(date +%s)

step "profile: activation ranges of 16 calibration samples (rotated model)"
"$BIN/profile" --config_file "$CFG" --seed 3

step "exportqnn: int8 NPU prefill model"
"$BIN/exportqnn" --config_file "$CFG" --output_model "$OUT/tinyqwen2-npu-int8.mllm"

step "exportrot: fp32 rotated model (input of quantize)"
"$BIN/exportrot" --config_file "$CFG" --output_model "$OUT/tinyqwen2-rot-f32.mllm"

step "quantize: q4_k CPU decode model"
"$BIN/quantize" "$OUT/tinyqwen2-rot-f32.mllm" "$OUT/tinyqwen2-decode-q4_k.mllm" Q4_K

step "convert: mllm vocab + merges"
"$BIN/convert" --type=vocab --input_model testdata/tinyqwen2/tokenizer.json --output_model "$OUT/tinyqwen2-vocab.mllm"

t1=$(date +%s)
echo
echo "deployable files in $OUT/ (pipeline took $((t1 - t0)) s):"
ls -l "$OUT"

step "run: a sample answer from the deployed pair (NPU prefill emulated, q4_k CPU decode)"
"$BIN/run" --qnn-model "$OUT/tinyqwen2-npu-int8.mllm" --decoding-model "$OUT/tinyqwen2-decode-q4_k.mllm" \
  --vocab "$OUT/tinyqwen2-vocab.mllm" --merge "$OUT/tinyqwen2-vocab.mllm.merges.txt" \
  --config testdata/tinyqwen2/config.json \
  --prompt "Who is Mr. Darcy?" --max-new-tokens 48

step "run: accuracy of the deployed pair on held-out Austen (Persuasion)"
"$BIN/run" --qnn-model "$OUT/tinyqwen2-npu-int8.mllm" --decoding-model "$OUT/tinyqwen2-decode-q4_k.mllm" \
  --tokenizer testdata/tinyqwen2/tokenizer.json --config testdata/tinyqwen2/config.json \
  --reference testdata/tinyqwen2 --ppl testdata/text/austen-persuasion.txt --ctx 512 --max-windows 16
