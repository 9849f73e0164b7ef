// Package runtime executes mllm's deployed model pair on an ordinary CPU
// with mllm's integer numerics (runtime spec = /work/shared/spec/mllm-runtime.md):
//
//   - an emulation of the QNN/HTP int8 prefill graph of demo_qwen_npu
//     (spec §1.5, §2): W8A16 q/k/v and down_proj, W8A8 o/gate/up, exact
//     integer accumulation with explicit requantization, fp16 where the
//     graph holds fp16, CPU attention with fp16-accumulated dot products
//     and an fp16 KV cache, and shadow outlier execution (spec §3);
//   - the CPU decoder over the q4_k (or q4_0, q8_0, fp32) model (spec §6),
//     continuing from the KV cache the prefill filled;
//   - generation (chunked prefill, hand-off, sampling) and an accuracy
//     report (perplexity, KL divergence and top-1 agreement against FP32).
//
// One file per concern: ops_quant.go (quantize/dequantize), ops_linear.go
// (Conv2d int GEMM + requantization), ops_fp16.go (binary16 arithmetic),
// ops_float.go (RMSNorm, RoPE, softmax), attention.go (KV cache and CPU
// attention), npu_model.go / npu_graph.go (the prefill graph), shadow.go,
// decoder.go, generate.go, sampling.go, report.go.
//
// # Emulation choices
//
// Where the spec leaves a choice open, or the device behaviour is closed:
//
//   - Conv2d requantization (§2.2): int64 accumulation of the integer
//     products, multiplier s_in·s_w/s_out in float64, round half away from
//     zero, saturate to int8/int16 — in both --htp-rounding modes (the flag
//     selects the op-package kernels, the Conv2d is Qualcomm's).
//   - --htp-rounding ref|hvx selects LLaMAQuantize / LLaMADequantize /
//     LLaMADequantizeAdd / RMSNorm reference or HVX numerics (§2.1, §2.3,
//     §2.4, §2.6, §2.13); qf32/qf16 intermediates are taken as IEEE with
//     round-to-nearest-even at each conversion.
//   - The closed QNN fp16 Sigmoid is the correctly rounded fp16 σ(x).
//   - fp16 arithmetic (vfmaq_f16 etc.) is computed exactly in float64 and
//     rounded once; float32 FMAs (v_expf, vec_dot_fp32) use a float64 FMA
//     and one conversion. sinf/cosf/expf are Go's (correctly rounded).
//   - The F32 lm_head of the prefill tail uses pkg/kernels (float32 FMA in
//     its own order) instead of vec_dot_fp32's order.
//   - Decoder activations: Q8_K by pkg/quant (quantize_row_q8_K reference,
//     the only implementation), Q8_0 by the NEON path (x·(1/d), ties to
//     even). Q4_K tensors whose rows are not whole 256-blocks (tinyqwen2's
//     down_proj, 704 inputs: mllm's quantize tool lets blocks straddle
//     rows) are dequantized to float32 at load and multiplied in float32.
//   - Chunked prefill runs chunks in order at their true positions and
//     takes the logits row (R−1) mod C of the last chunk; the KV cache is
//     handed to the decoder at the real prompt length R (§1.6, §1.7), not
//     with the demo's toggle/parity quirks.
package runtime
