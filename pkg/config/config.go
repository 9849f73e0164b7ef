// Package config reads mllm's JSON configuration file (the one file that
// drives profiling, export and rotated export; spec §1) and validates it the
// way mllm v1 does, with mllm's crashes turned into clear errors.
//
// # What is checked
//
// Every command validates both sections, as every mllm script does:
//
//   - the schema of mllm's utils/config.py (CONFIG_SCHEMA): required keys,
//     value types and `num_samples >= 2`. The root object, profile_config and
//     export_config reject unknown keys (the error names the key);
//     model_config accepts extra keys, which are kept raw in
//     ModelConfig.Extra;
//   - validate_config: when profile_config.model_config.online_rotation is
//     true, profile_config.no_bias must be true and export_config.quant_bias
//     must not be true; model_type, tokenizer_name and model_name must be
//     equal in both model_configs;
//   - the scripts' own checks, applied to both sections: random_rotate and a
//     non-empty R_path are mutually exclusive; export_config.quantize_vit is
//     allowed only with model_type "qwen2-vl".
//
// # Fixes of mllm's quirks (spec §8)
//
//   - Q3: online_rotation without random_rotate needs a non-empty R_path
//     (mllm crashes in torch.load(None)).
//   - Q4: model_config.skip_layers ({"skip_export", "no_clip_input",
//     "no_clip_output"}) and model_config.special_quantization_rules
//     ({"skip_layers", "head_layers"}) are accepted with JSON lists of
//     substrings (mllm crashes on `list | set`). Unknown keys inside them are
//     rejected.
//   - Q5: export_config.t01m_clip_threshold is required unless clip_all is
//     true (mllm crashes later when it is missing).
//   - Q6: EnsureParentDir creates only the parent directory of an output
//     path, never the path itself.
//   - §3.8: the qwen2-vl runtime MLP wrapper options vision_mlp_rotate and
//     lm_mlp_rotate are rejected when enabled (truthy): the mllm runtime has
//     no ops for them. Their parameters (rot_up, *_layers_to_rotate, ...) are
//     ignored when the wrappers are off, as in mllm.
//
// Warnings returns the advisory findings that mllm accepts silently (for
// example, export drawing a fresh random rotation that cannot match the
// profiled scales).
//
// # Typing (Python semantics)
//
// The schema's "integer" is Python's isinstance(v, int): a JSON number
// written without a fraction or exponent. 64.0 and 1e2 are rejected; true
// and false are accepted as 1 and 0 (Python's bool is an int), so
// "num_samples": true fails only the minimum check. "boolean" accepts only
// true and false; "string" only strings; null is rejected wherever a typed
// key is present (Python: "expected string, got NoneType").
//
// # Paths
//
// Relative paths (dataset_path, output_path, scale_file, output_model,
// save_rotation, R_path, tokenizer_name, model_name) are returned exactly as
// written and resolve against the process's working directory, as in mllm
// (whose scripts are run from tools/qnn_convertor/). This keeps mllm's
// shipped configs working unchanged; it does not resolve them against the
// config file's directory.
//
// # Deviations from mllm
//
//   - Required string values must not be empty (mllm would fail later, e.g.
//     opening ""). R_path and save_rotation may be empty: like mllm, an empty
//     string means "not set".
//   - Integers outside int64 are rejected (Python accepts any size).
//   - Python's json accepts NaN, Infinity and -Infinity literals; Go's JSON
//     decoder does not, so a file using them is a syntax error here.
//   - The mutual-exclusion and quantize_vit checks, which mllm runs only for
//     the section the script uses, run on both sections in every command;
//     likewise the Q5 check.
//   - Error messages name the full key path (for example
//     "export_config.model_config.R_path: ..."); mllm's messages name the
//     parent object. The first error in mllm's check order is reported.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Model types known to mllm's model registry (model_interface.py).
const (
	ModelTypeQwen2   = "qwen2"
	ModelTypeQwen2VL = "qwen2-vl"
)

// Config is a whole mllm configuration file.
type Config struct {
	Profile ProfileConfig // profile_config
	Export  ExportConfig  // export_config
}

// ModelConfig is a profile_config.model_config or export_config.model_config.
type ModelConfig struct {
	ModelType      string // model_type ("qwen2", "qwen2-vl")
	TokenizerName  string // tokenizer_name: an HF path
	ModelName      string // model_name: an HF path
	OnlineRotation bool   // online_rotation: rotate the weights after loading
	RandomRotate   bool   // random_rotate: draw a random R/R_v
	SaveRotation   string // save_rotation: where to write a drawn R file ("" = not saved)
	RPath          string // R_path: the R file to load ("" = not set)
	// SkipLayers is model_config.skip_layers: substrings of layer names
	// added to the model type's built-in rules.
	SkipLayers SkipLayers
	// SpecialQuantizationRules is model_config.special_quantization_rules.
	SpecialQuantizationRules QuantizationRules
	// Extra holds every other model_config key, undecoded (the qwen2-vl
	// options of spec §1.1 such as rotate_vit and no_quantize).
	Extra map[string]json.RawMessage
}

// SkipLayers is model_config.skip_layers (mllm's get_skip_layers): each
// list holds substrings matched against layer or state-dict names.
type SkipLayers struct {
	SkipExport   []string // skip_export: drop matching state-dict keys
	NoClipInput  []string // no_clip_input: never clip these layers' inputs
	NoClipOutput []string // no_clip_output: never clip these layers' outputs
}

// QuantizationRules is model_config.special_quantization_rules (mllm's
// get_special_quantization_rules).
type QuantizationRules struct {
	SkipLayers []string // skip_layers: keep matching layers in float32
	HeadLayers []string // head_layers: keep matching layers' weights/biases in float32
}

// ProfileConfig is profile_config.
type ProfileConfig struct {
	DatasetPath string // dataset_path
	OutputPath  string // output_path: the scale JSON written
	NumSamples  int    // num_samples (>= 2)
	NoBias      bool   // no_bias
	ModelConfig        // model_config
}

// ExportConfig is export_config.
type ExportConfig struct {
	ScaleFile         string // scale_file: the scale JSON read
	OutputModel       string // output_model: the .pth written
	T01mClipThreshold *int   // t01m_clip_threshold (nil when absent; then ClipAll is true)
	QuantBias         bool   // quant_bias
	ClipAll           bool   // clip_all
	QuantizeVit       *bool  // quantize_vit (nil when absent; only for qwen2-vl)
	ModelConfig              // model_config
}

// wrapperKeys are the qwen2-vl runtime MLP wrapper switches (spec §3.8).
var wrapperKeys = []string{"vision_mlp_rotate", "lm_mlp_rotate"}

// Load reads and validates the config file at path. Errors start with path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Parse decodes and validates a config file's contents.
func Parse(data []byte) (*Config, error) {
	if err := checkSyntax(data); err != nil {
		return nil, err
	}
	root, err := object("<root>", json.RawMessage(data))
	if err != nil {
		return nil, err
	}
	if err := root.require("profile_config", "export_config"); err != nil {
		return nil, err
	}
	if err := root.allowOnly("profile_config", "export_config"); err != nil {
		return nil, err
	}
	c := &Config{}
	if err := c.Profile.decode(root.sub("profile_config")); err != nil {
		return nil, err
	}
	if err := c.Export.decode(root.sub("export_config")); err != nil {
		return nil, err
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// checkSyntax reports a JSON syntax error with its line and column.
func checkSyntax(data []byte) error {
	if json.Valid(data) {
		return nil
	}
	var v any
	err := json.Unmarshal(data, &v)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line, col := lineCol(data, se.Offset)
		return fmt.Errorf("invalid JSON at line %d, column %d: %v", line, col, se)
	}
	if err == nil {
		err = errors.New("not a JSON document")
	}
	return fmt.Errorf("invalid JSON: %w", err)
}

func lineCol(data []byte, off int64) (line, col int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	line, col = 1, 1
	for _, b := range data[:off] {
		if b == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return line, col
}

func (p *ProfileConfig) decode(o *obj, err error) error {
	if err != nil {
		return err
	}
	keys := []string{"dataset_path", "output_path", "num_samples", "no_bias", "model_config"}
	if err := o.require(keys...); err != nil {
		return err
	}
	if err := o.allowOnly(keys...); err != nil {
		return err
	}
	if p.DatasetPath, err = o.nonEmptyString("dataset_path"); err != nil {
		return err
	}
	if p.OutputPath, err = o.nonEmptyString("output_path"); err != nil {
		return err
	}
	if p.NumSamples, _, err = o.integer("num_samples"); err != nil {
		return err
	}
	if p.NumSamples < 2 {
		return o.errf("num_samples", "value %s < minimum 2", o.m["num_samples"])
	}
	if p.NoBias, _, err = o.boolean("no_bias"); err != nil {
		return err
	}
	return p.ModelConfig.decode(o.sub("model_config"))
}

func (e *ExportConfig) decode(o *obj, err error) error {
	if err != nil {
		return err
	}
	if err := o.require("scale_file", "output_model", "model_config"); err != nil {
		return err
	}
	if err := o.allowOnly("scale_file", "output_model", "t01m_clip_threshold", "quant_bias", "clip_all", "quantize_vit", "model_config"); err != nil {
		return err
	}
	if e.ScaleFile, err = o.nonEmptyString("scale_file"); err != nil {
		return err
	}
	if e.OutputModel, err = o.nonEmptyString("output_model"); err != nil {
		return err
	}
	t, ok, err := o.integer("t01m_clip_threshold")
	if err != nil {
		return err
	}
	if ok {
		e.T01mClipThreshold = &t
	}
	if e.QuantBias, _, err = o.boolean("quant_bias"); err != nil {
		return err
	}
	if e.ClipAll, _, err = o.boolean("clip_all"); err != nil {
		return err
	}
	v, ok, err := o.boolean("quantize_vit")
	if err != nil {
		return err
	}
	if ok {
		e.QuantizeVit = &v
	}
	return e.ModelConfig.decode(o.sub("model_config"))
}

func (m *ModelConfig) decode(o *obj, err error) error {
	if err != nil {
		return err
	}
	if err := o.require("model_type", "tokenizer_name", "model_name"); err != nil {
		return err
	}
	if m.ModelType, err = o.nonEmptyString("model_type"); err != nil {
		return err
	}
	if m.TokenizerName, err = o.nonEmptyString("tokenizer_name"); err != nil {
		return err
	}
	if m.ModelName, err = o.nonEmptyString("model_name"); err != nil {
		return err
	}
	if m.OnlineRotation, _, err = o.boolean("online_rotation"); err != nil {
		return err
	}
	if m.RandomRotate, _, err = o.boolean("random_rotate"); err != nil {
		return err
	}
	if m.SaveRotation, _, err = o.str("save_rotation"); err != nil {
		return err
	}
	if m.RPath, _, err = o.str("R_path"); err != nil {
		return err
	}
	if _, ok := o.m["skip_layers"]; ok {
		lists, err := o.stringLists("skip_layers", "skip_export", "no_clip_input", "no_clip_output")
		if err != nil {
			return err
		}
		m.SkipLayers = SkipLayers{SkipExport: lists[0], NoClipInput: lists[1], NoClipOutput: lists[2]}
	}
	if _, ok := o.m["special_quantization_rules"]; ok {
		lists, err := o.stringLists("special_quantization_rules", "skip_layers", "head_layers")
		if err != nil {
			return err
		}
		m.SpecialQuantizationRules = QuantizationRules{SkipLayers: lists[0], HeadLayers: lists[1]}
	}
	for _, k := range wrapperKeys {
		if v, ok := o.m[k]; ok && truthy(v) {
			return o.errf(k, "the qwen2-vl runtime MLP wrappers (vision_mlp_rotate, lm_mlp_rotate; spec §3.8) are not supported: they change the state-dict names and need runtime Hadamard ops the mllm runtime does not have")
		}
	}
	typed := map[string]bool{"model_type": true, "tokenizer_name": true, "model_name": true,
		"online_rotation": true, "random_rotate": true, "save_rotation": true, "R_path": true,
		"skip_layers": true, "special_quantization_rules": true}
	for k, v := range o.m {
		if typed[k] {
			continue
		}
		if m.Extra == nil {
			m.Extra = map[string]json.RawMessage{}
		}
		m.Extra[k] = v
	}
	return nil
}

// checkRotation applies the scripts' rotation-key checks to the
// model_config at path.
func (m *ModelConfig) checkRotation(path string) error {
	if m.RandomRotate && m.RPath != "" {
		return fmt.Errorf("%s.R_path: random_rotate and R_path cannot be set at the same time", path)
	}
	if m.OnlineRotation && !m.RandomRotate && m.RPath == "" {
		return fmt.Errorf("%s.R_path: online_rotation is true and random_rotate is not, so R_path must name the R file to load (mllm would crash in torch.load(None))", path)
	}
	return nil
}

// validate runs mllm's validate_config and the cross-section checks.
func (c *Config) validate() error {
	p, e := &c.Profile, &c.Export
	if p.OnlineRotation {
		if !p.NoBias {
			return errors.New("profile_config.no_bias: online_rotation requires no_bias to be true")
		}
		if e.QuantBias {
			return errors.New("export_config.quant_bias: quant_bias cannot be true when online_rotation is enabled")
		}
	}
	for _, f := range []struct{ key, a, b string }{
		{"model_type", p.ModelType, e.ModelType},
		{"tokenizer_name", p.TokenizerName, e.TokenizerName},
		{"model_name", p.ModelName, e.ModelName},
	} {
		if f.a != f.b {
			return fmt.Errorf("export_config.model_config.%s: %q differs from profile_config.model_config.%s %q; they must match", f.key, f.b, f.key, f.a)
		}
	}
	if err := p.checkRotation("profile_config.model_config"); err != nil {
		return err
	}
	if e.QuantizeVit != nil && e.ModelType != ModelTypeQwen2VL {
		return fmt.Errorf("export_config.quantize_vit: model type %q does not have quantization config for ViT (allowed only with %q)", e.ModelType, ModelTypeQwen2VL)
	}
	if e.T01mClipThreshold == nil && !e.ClipAll {
		return errors.New("export_config.t01m_clip_threshold: required unless clip_all is true")
	}
	return e.checkRotation("export_config.model_config")
}

// Warnings lists settings that mllm accepts but that are probably
// mistakes. They do not make the config invalid.
func (c *Config) Warnings() []string {
	var w []string
	p, e := &c.Profile, &c.Export
	if e.OnlineRotation && e.RandomRotate {
		w = append(w, "export_config.model_config.random_rotate is true: export draws a new random rotation, so the weights will not match the scales profiled with another rotation; set R_path to the R file saved by profiling instead")
	}
	if p.OnlineRotation && p.RandomRotate && p.SaveRotation == "" {
		w = append(w, "profile_config.model_config.random_rotate is true but save_rotation is empty: the rotation is not saved, so export cannot reuse it")
	}
	if p.OnlineRotation != e.OnlineRotation {
		w = append(w, fmt.Sprintf("online_rotation is %v in profile_config but %v in export_config: the profiled scales will not match the exported weights", p.OnlineRotation, e.OnlineRotation))
	}
	if p.OnlineRotation && e.OnlineRotation && p.RandomRotate && !e.RandomRotate && p.SaveRotation != "" && e.RPath != "" &&
		filepath.Clean(p.SaveRotation) != filepath.Clean(e.RPath) {
		w = append(w, fmt.Sprintf("profile_config.model_config.save_rotation %q differs from export_config.model_config.R_path %q: export will not use the rotation that profiling saves", p.SaveRotation, e.RPath))
	}
	if !p.OnlineRotation {
		for _, s := range []struct {
			key string
			set bool
		}{{"random_rotate", p.RandomRotate}, {"R_path", p.RPath != ""}, {"save_rotation", p.SaveRotation != ""}} {
			if s.set {
				w = append(w, fmt.Sprintf("profile_config.model_config.%s is ignored because online_rotation is not true", s.key))
			}
		}
	}
	if !e.OnlineRotation {
		for _, s := range []struct {
			key string
			set bool
		}{{"random_rotate", e.RandomRotate}, {"R_path", e.RPath != ""}, {"save_rotation", e.SaveRotation != ""}} {
			if s.set {
				w = append(w, fmt.Sprintf("export_config.model_config.%s is ignored because online_rotation is not true", s.key))
			}
		}
	}
	return w
}

// EnsureParentDir creates the parent directory of the output file path
// (with its parents) and never path itself. It fails if path exists and is
// a directory. This is mllm's ensure_parent_dir with quirk Q6 fixed.
func EnsureParentDir(path string) error {
	if path == "" {
		return errors.New("output path is empty")
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return fmt.Errorf("output path %s is a directory", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create parent directory of %s: %w", path, err)
	}
	return nil
}

// obj is one JSON object being decoded, with its key path.
type obj struct {
	path string
	m    map[string]json.RawMessage
}

func object(path string, raw json.RawMessage) (*obj, error) {
	if k := kind(raw); k != "object" {
		return nil, fmt.Errorf("%s: expected object, got %s", path, k)
	}
	o := &obj{path: path}
	if err := json.Unmarshal(raw, &o.m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return o, nil
}

func (o *obj) keyPath(k string) string {
	if o.path == "<root>" {
		return k
	}
	return o.path + "." + k
}

func (o *obj) errf(k, format string, args ...any) error {
	return fmt.Errorf("%s: %s", o.keyPath(k), fmt.Sprintf(format, args...))
}

func (o *obj) sub(k string) (*obj, error) { return object(o.keyPath(k), o.m[k]) }

func (o *obj) require(keys ...string) error {
	for _, k := range keys {
		if _, ok := o.m[k]; !ok {
			return o.errf(k, "missing required key")
		}
	}
	return nil
}

func (o *obj) allowOnly(keys ...string) error {
	allowed := map[string]bool{}
	for _, k := range keys {
		allowed[k] = true
	}
	var bad []string
	for k := range o.m {
		if !allowed[k] {
			bad = append(bad, k)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	names := make([]string, len(bad))
	for i, k := range bad {
		names[i] = o.keyPath(k)
	}
	word := "unknown key"
	if len(bad) > 1 {
		word = "unknown keys"
	}
	return fmt.Errorf("%s: %s (allowed in %s: %s)", strings.Join(names, ", "), word, o.path, strings.Join(keys, ", "))
}

// str returns an optional string value.
func (o *obj) str(k string) (string, bool, error) {
	raw, ok := o.m[k]
	if !ok {
		return "", false, nil
	}
	if kd := kind(raw); kd != "string" {
		return "", false, o.errf(k, "expected string, got %s", describe(raw))
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false, o.errf(k, "%v", err)
	}
	return s, true, nil
}

func (o *obj) nonEmptyString(k string) (string, error) {
	s, _, err := o.str(k)
	if err != nil {
		return "", err
	}
	if s == "" {
		return "", o.errf(k, "must not be empty")
	}
	return s, nil
}

// boolean returns an optional boolean value (only true/false accepted).
func (o *obj) boolean(k string) (bool, bool, error) {
	raw, ok := o.m[k]
	if !ok {
		return false, false, nil
	}
	switch string(raw) {
	case "true":
		return true, true, nil
	case "false":
		return false, true, nil
	}
	return false, false, o.errf(k, "expected boolean, got %s", describe(raw))
}

// integer returns an optional integer value with Python's isinstance(v,
// int) semantics: integer literals, and true/false as 1/0.
func (o *obj) integer(k string) (int, bool, error) {
	raw, ok := o.m[k]
	if !ok {
		return 0, false, nil
	}
	s := string(raw)
	switch s {
	case "true":
		return 1, true, nil
	case "false":
		return 0, true, nil
	}
	if kind(raw) != "number" || strings.ContainsAny(s, ".eE") {
		return 0, false, o.errf(k, "expected integer, got %s", describe(raw))
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, false, o.errf(k, "integer %s is out of range", s)
	}
	if int64(int(v)) != v {
		return 0, false, o.errf(k, "integer %s is out of range", s)
	}
	return int(v), true, nil
}

// stringLists decodes o[k] as an object whose allowed keys are subkeys, each
// a list of strings.
func (o *obj) stringLists(k string, subkeys ...string) ([][]string, error) {
	so, err := o.sub(k)
	if err != nil {
		return nil, err
	}
	if err := so.allowOnly(subkeys...); err != nil {
		return nil, err
	}
	out := make([][]string, len(subkeys))
	for i, sk := range subkeys {
		raw, ok := so.m[sk]
		if !ok {
			continue
		}
		if kind(raw) != "array" {
			return nil, so.errf(sk, "expected a list of strings, got %s", describe(raw))
		}
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, so.errf(sk, "%v", err)
		}
		list := make([]string, 0, len(items))
		for j, it := range items {
			if kind(it) != "string" {
				return nil, fmt.Errorf("%s[%d]: expected string, got %s", so.keyPath(sk), j, describe(it))
			}
			var s string
			if err := json.Unmarshal(it, &s); err != nil {
				return nil, fmt.Errorf("%s[%d]: %v", so.keyPath(sk), j, err)
			}
			if s == "" {
				return nil, fmt.Errorf("%s[%d]: an empty substring would match every name", so.keyPath(sk), j)
			}
			list = append(list, s)
		}
		out[i] = list
	}
	return out, nil
}

// kind classifies a JSON value: object, array, string, number, bool, null.
func kind(raw json.RawMessage) string {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 {
		return "nothing"
	}
	switch t[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	}
	return "number"
}

// describe names a JSON value's type the way Python would see it, with the
// value when it is short.
func describe(raw json.RawMessage) string {
	t := bytes.TrimSpace(raw)
	k := kind(raw)
	switch k {
	case "number":
		if bytes.ContainsAny(t, ".eE") {
			return "float " + string(t)
		}
		return "int " + string(t)
	case "bool", "string":
		if len(t) <= 40 {
			return k + " " + string(t)
		}
		return k
	case "object":
		return "object (dict)"
	case "array":
		return "array (list)"
	case "null":
		return "null (None)"
	}
	return k
}

// truthy is Python's truth value of a decoded JSON value.
func truthy(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	switch kind(raw) {
	case "null":
		return false
	case "bool":
		return string(t) == "true"
	case "number":
		f, err := strconv.ParseFloat(string(t), 64)
		return err != nil || f != 0
	case "string":
		var s string
		_ = json.Unmarshal(t, &s)
		return s != ""
	case "array":
		var a []json.RawMessage
		_ = json.Unmarshal(t, &a)
		return len(a) > 0
	case "object":
		var m map[string]json.RawMessage
		_ = json.Unmarshal(t, &m)
		return len(m) > 0
	}
	return false
}
