package export

import "github.com/qnnkit/qnnkit/pkg/config"

// Target is where an export command writes: --output_model when given,
// else export_config.output_model (which exportqnn and exportrot share in
// mllm, quirk Q9), in the format chosen by --format or the extension.
type Target struct {
	Path   string
	Format Format
}

// ResolveTarget picks the output path and format and checks the path before
// any work is done, so a bad output fails in a second, not after an export.
func ResolveTarget(ec config.ExportConfig, override string, overridden bool, format string) (Target, error) {
	out := ec.OutputModel
	if overridden {
		out = override
	}
	if err := CheckOutputPath(out); err != nil {
		return Target{}, err
	}
	f, err := FormatFor(out, format)
	if err != nil {
		return Target{}, err
	}
	return Target{Path: out, Format: f}, nil
}

// RotationPath is the R file an export folds in: R_path with
// online_rotation, "" otherwise.
func RotationPath(ec config.ExportConfig) string {
	if ec.OnlineRotation {
		return ec.RPath
	}
	return ""
}
