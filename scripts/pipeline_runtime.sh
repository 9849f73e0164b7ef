#!/bin/sh
# End-to-end deployed-pair evaluation of the bundled model (issue #6):
#   profile → exportqnn (.mllm) → exportrot (.mllm) → quantize Q4_K
# for the rotated pipeline (configs/tinyqwen2.json) and the unrotated one
# (configs/tinyqwen2-norot.json, exported at its threshold 64 and at 4 so
# that some down_proj layers carry outlier flags), then `run --ppl` reports
# on Persuasion against the FP32 model.
#
# Usage: scripts/pipeline_runtime.sh [OUT_DIR (default out/runtime)] [WINDOWS (default 16)]
# Everything is written under OUT_DIR; the config copies there point at it.
set -e
cd "$(dirname "$0")/.."
OUT=$(realpath -m "${1:-out/runtime}")
WIN=${2:-16}
ROOT=$(pwd)
mkdir -p "$OUT/bin" "$OUT/rot" "$OUT/norot"
for c in profile exportqnn exportrot quantize run; do go build -o "$OUT/bin/$c" "./cmd/$c"; done
B=$OUT/bin
T=$ROOT/testdata/tinyqwen2
P=$ROOT/testdata/text/austen-persuasion.txt

# config copies with absolute paths under $OUT
/usr/bin/python3 - "$ROOT" "$OUT" <<'PY'
import json, sys
root, out = sys.argv[1], sys.argv[2]
for src, name in (("configs/tinyqwen2.json", "rot"), ("configs/tinyqwen2-norot.json", "norot")):
    c = json.load(open(f"{root}/{src}"))
    d = f"{out}/{name}"
    p, e = c["profile_config"], c["export_config"]
    p["dataset_path"] = f"{root}/{p['dataset_path']}"
    p["output_path"] = e["scale_file"] = f"{d}/dis.json"
    e["output_model"] = f"{d}/qnn.pth"
    for mc in (p["model_config"], e["model_config"]):
        mc["tokenizer_name"] = f"{root}/{mc['tokenizer_name']}"
        mc["model_name"] = f"{root}/{mc['model_name']}"
    if p["model_config"].get("save_rotation"):
        p["model_config"]["save_rotation"] = e["model_config"]["R_path"] = f"{d}/R.bin"
    json.dump(c, open(f"{d}/config.json", "w"), indent=4)
    if name == "norot":
        e["t01m_clip_threshold"] = 4
        json.dump(c, open(f"{d}/config-t4.json", "w"), indent=4)
PY

cd "$OUT/rot"
[ -f dis.json ] || "$B/profile" --config_file config.json --seed 3 --plot none
"$B/exportqnn" --config_file config.json --output_model npu.mllm
"$B/exportrot" --config_file config.json --output_model f32.mllm
"$B/quantize" f32.mllm dec-q4_k.mllm Q4_K
cd "$OUT/norot"
[ -f dis.json ] || "$B/profile" --config_file config.json --plot none
"$B/exportqnn" --config_file config.json --output_model npu-t64.mllm
"$B/exportqnn" --config_file config-t4.json --output_model npu-t4.mllm
"$B/exportrot" --config_file config.json --output_model f32.mllm
"$B/quantize" f32.mllm dec-q4_k.mllm Q4_K

cd "$OUT"
run() {
	name=$1; shift
	echo "== $name"
	"$B/run" "$@" --tokenizer "$T/tokenizer.json" --config "$T/config.json" --ppl "$P" \
		--reference "$T" --max-windows "$WIN" --json | tee "$name.txt"
}
run rot-ref -m rot/npu.mllm --decoding-model rot/dec-q4_k.mllm --htp-rounding ref
run rot-hvx -m rot/npu.mllm --decoding-model rot/dec-q4_k.mllm --htp-rounding hvx
run norot-t64 -m norot/npu-t64.mllm --decoding-model norot/dec-q4_k.mllm --shadow-layers none
run norot-t4-noshadow -m norot/npu-t4.mllm --decoding-model norot/dec-q4_k.mllm --shadow-layers none
run norot-t4-shadow -m norot/npu-t4.mllm --decoding-model norot/dec-q4_k.mllm --shadow-layers auto
