// Package rotate implements mllm's offline rotation (spec §3): random
// Hadamard matrices, the R file, and RotateModel.
package rotate
