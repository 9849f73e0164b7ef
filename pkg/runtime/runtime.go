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
package runtime
