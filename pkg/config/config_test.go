package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// base is mllm's qwen1.5-1.8b example with every optional key spelled out
// once, written so that tests can replace single literals.
const base = `{
  "profile_config": {
    "dataset_path": "data/",
    "output_path": "dis/scales.json",
    "num_samples": 2,
    "no_bias": true,
    "model_config": {
      "model_type": "qwen2",
      "tokenizer_name": "m",
      "model_name": "m",
      "online_rotation": true,
      "random_rotate": true,
      "save_rotation": "R/r.bin"
    }
  },
  "export_config": {
    "scale_file": "dis/scales.json",
    "output_model": "out/model.pth",
    "t01m_clip_threshold": 64,
    "quant_bias": false,
    "model_config": {
      "model_type": "qwen2",
      "tokenizer_name": "m",
      "model_name": "m",
      "online_rotation": true,
      "R_path": "R/r.bin"
    }
  }
}`

// edit applies old→new replacements (each old must occur exactly once).
func edit(t *testing.T, pairs ...string) []byte {
	t.Helper()
	s := base
	for i := 0; i < len(pairs); i += 2 {
		if n := strings.Count(s, pairs[i]); n != 1 {
			t.Fatalf("test setup: %q occurs %d times in base", pairs[i], n)
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return []byte(s)
}

const (
	expMC = `"online_rotation": true,
      "R_path": "R/r.bin"`
	profMC = `"online_rotation": true,
      "random_rotate": true,
      "save_rotation": "R/r.bin"`
)

func TestParseBase(t *testing.T) {
	c, err := Parse([]byte(base))
	if err != nil {
		t.Fatal(err)
	}
	thr := 64
	want := &Config{
		Profile: ProfileConfig{DatasetPath: "data/", OutputPath: "dis/scales.json", NumSamples: 2, NoBias: true,
			ModelConfig: ModelConfig{ModelType: "qwen2", TokenizerName: "m", ModelName: "m", OnlineRotation: true, RandomRotate: true, SaveRotation: "R/r.bin"}},
		Export: ExportConfig{ScaleFile: "dis/scales.json", OutputModel: "out/model.pth", T01mClipThreshold: &thr,
			ModelConfig: ModelConfig{ModelType: "qwen2", TokenizerName: "m", ModelName: "m", OnlineRotation: true, RPath: "R/r.bin"}},
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got %+v\nwant %+v", c, want)
	}
	if w := c.Warnings(); len(w) != 0 {
		t.Fatalf("unexpected warnings %q", w)
	}
}

func TestParseValid(t *testing.T) {
	tests := []struct {
		name  string
		pairs []string
		check func(*Config) bool
	}{
		{"bool as integer (Python bool is int)", []string{`"t01m_clip_threshold": 64`, `"t01m_clip_threshold": true`},
			func(c *Config) bool { return *c.Export.T01mClipThreshold == 1 }},
		{"negative integer threshold", []string{`"t01m_clip_threshold": 64`, `"t01m_clip_threshold": -3`},
			func(c *Config) bool { return *c.Export.T01mClipThreshold == -3 }},
		{"threshold optional with clip_all", []string{`"t01m_clip_threshold": 64`, `"clip_all": true`},
			func(c *Config) bool { return c.Export.T01mClipThreshold == nil && c.Export.ClipAll }},
		{"num_samples large", []string{`"num_samples": 2`, `"num_samples": 512`},
			func(c *Config) bool { return c.Profile.NumSamples == 512 }},
		{"no rotation at all", []string{profMC, `"online_rotation": false`, expMC, `"online_rotation": false`, `"no_bias": true`, `"no_bias": false`},
			func(c *Config) bool { return !c.Profile.OnlineRotation && !c.Profile.NoBias }},
		{"quant_bias without rotation", []string{profMC, `"x": 1`, expMC, `"y": 2`, `"quant_bias": false`, `"quant_bias": true`},
			func(c *Config) bool {
				return c.Export.QuantBias && string(c.Profile.Extra["x"]) == "1" && string(c.Export.Extra["y"]) == "2"
			}},
		{"skip lists (Q4)", []string{expMC, expMC + `, "skip_layers": {"skip_export": ["a"], "no_clip_input": ["b", "c"]},
		  "special_quantization_rules": {"skip_layers": ["visual"], "head_layers": []}`},
			func(c *Config) bool {
				return reflect.DeepEqual(c.Export.SkipLayers, SkipLayers{SkipExport: []string{"a"}, NoClipInput: []string{"b", "c"}}) &&
					reflect.DeepEqual(c.Export.SpecialQuantizationRules, QuantizationRules{SkipLayers: []string{"visual"}, HeadLayers: []string{}}) &&
					c.Export.Extra == nil
			}},
		{"wrapper switches off are ignored", []string{expMC, expMC + `, "lm_mlp_rotate": false, "vision_mlp_rotate": 0, "rot_up": true`},
			func(c *Config) bool { return len(c.Export.Extra) == 3 }},
		{"empty R_path means unset", []string{`"save_rotation": "R/r.bin"`, `"save_rotation": "R/r.bin", "R_path": ""`},
			func(c *Config) bool { return c.Profile.RPath == "" }},
		{"export random_rotate (warned, not rejected)", []string{`"R_path": "R/r.bin"`, `"random_rotate": true`},
			func(c *Config) bool { return c.Export.RandomRotate && len(c.Warnings()) == 1 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse(edit(t, tc.pairs...))
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Fatalf("unexpected result %+v", c)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name  string
		pairs []string
		want  string // the error must start with this
	}{
		{"float as integer", []string{`"t01m_clip_threshold": 64`, `"t01m_clip_threshold": 64.0`},
			"export_config.t01m_clip_threshold: expected integer, got float 64.0"},
		{"exponent as integer", []string{`"num_samples": 2`, `"num_samples": 2e1`},
			"profile_config.num_samples: expected integer, got float 2e1"},
		{"string as integer", []string{`"num_samples": 2`, `"num_samples": "2"`},
			`profile_config.num_samples: expected integer, got string "2"`},
		{"null as integer", []string{`"num_samples": 2`, `"num_samples": null`},
			"profile_config.num_samples: expected integer, got null"},
		{"minimum", []string{`"num_samples": 2`, `"num_samples": 1`},
			"profile_config.num_samples: value 1 < minimum 2"},
		{"bool passes type, fails minimum", []string{`"num_samples": 2`, `"num_samples": true`},
			"profile_config.num_samples: value true < minimum 2"},
		{"integer overflow", []string{`"num_samples": 2`, `"num_samples": 99999999999999999999`},
			"profile_config.num_samples: integer 99999999999999999999 is out of range"},
		{"int as boolean", []string{`"no_bias": true`, `"no_bias": 1`},
			"profile_config.no_bias: expected boolean, got int 1"},
		{"string as boolean", []string{`"quant_bias": false`, `"quant_bias": "false"`},
			"export_config.quant_bias: expected boolean, got string"},
		{"null string", []string{`"R_path": "R/r.bin"`, `"R_path": null`},
			"export_config.model_config.R_path: expected string, got null"},
		{"number as string", []string{`"dataset_path": "data/"`, `"dataset_path": 3`},
			"profile_config.dataset_path: expected string, got int 3"},
		{"empty required string", []string{`"output_model": "out/model.pth"`, `"output_model": ""`},
			"export_config.output_model: must not be empty"},
		{"missing required", []string{`"dataset_path": "data/",`, ``},
			"profile_config.dataset_path: missing required key"},
		{"missing model_name", []string{`"model_name": "m",
      "online_rotation": true,
      "R_path"`, `"online_rotation": true,
      "R_path"`},
			"export_config.model_config.model_name: missing required key"},
		{"unknown profile key", []string{`"num_samples": 2`, `"num_samples": 2, "nsamples": 3`},
			"profile_config.nsamples: unknown key (allowed in profile_config: dataset_path, output_path, num_samples, no_bias, model_config)"},
		{"unknown export keys", []string{`"quant_bias": false`, `"quant_bias": false, "zz": 1, "aa": 2`},
			"export_config.aa, export_config.zz: unknown keys"},
		{"unknown root key", []string{`"profile_config": {`, `"extra": {}, "profile_config": {`},
			"extra: unknown key"},
		{"model_config not an object", []string{`"model_config": {
      "model_type": "qwen2",
      "tokenizer_name": "m",
      "model_name": "m",
      "online_rotation": true,
      "random_rotate": true,
      "save_rotation": "R/r.bin"
    }`, `"model_config": "x"`},
			`profile_config.model_config: expected object, got string`},
		{"no_bias required by online_rotation", []string{`"no_bias": true`, `"no_bias": false`},
			"profile_config.no_bias: online_rotation requires no_bias to be true"},
		{"quant_bias forbidden by online_rotation", []string{`"quant_bias": false`, `"quant_bias": true`},
			"export_config.quant_bias: quant_bias cannot be true when online_rotation is enabled"},
		{"model_type mismatch", []string{`"R_path": "R/r.bin"`, `"R_path": "R/r.bin", "model_type": "qwen2-vl"`},
			`export_config.model_config.model_type: "qwen2-vl" differs from profile_config.model_config.model_type "qwen2"`},
		{"random_rotate with R_path (profile)", []string{`"save_rotation": "R/r.bin"`, `"R_path": "R/r.bin"`},
			"profile_config.model_config.R_path: random_rotate and R_path cannot be set at the same time"},
		{"random_rotate with R_path (export)", []string{`"R_path": "R/r.bin"`, `"R_path": "R/r.bin", "random_rotate": true`},
			"export_config.model_config.R_path: random_rotate and R_path cannot be set at the same time"},
		{"missing R_path (Q3)", []string{`"R_path": "R/r.bin"`, `"save_rotation": "R/r.bin"`},
			"export_config.model_config.R_path: online_rotation is true and random_rotate is not, so R_path must name the R file"},
		{"empty R_path (Q3)", []string{`"R_path": "R/r.bin"`, `"R_path": ""`},
			"export_config.model_config.R_path: online_rotation is true"},
		{"missing threshold (Q5)", []string{`"t01m_clip_threshold": 64,`, ``},
			"export_config.t01m_clip_threshold: required unless clip_all is true"},
		{"threshold missing, clip_all false", []string{`"t01m_clip_threshold": 64`, `"clip_all": false`},
			"export_config.t01m_clip_threshold: required unless clip_all is true"},
		{"quantize_vit on qwen2", []string{`"quant_bias": false`, `"quant_bias": false, "quantize_vit": false`},
			`export_config.quantize_vit: model type "qwen2" does not have quantization config for ViT`},
		{"wrapper switch", []string{expMC, expMC + `, "lm_mlp_rotate": true`},
			"export_config.model_config.lm_mlp_rotate: the qwen2-vl runtime MLP wrappers"},
		{"wrapper switch truthy list", []string{expMC, expMC + `, "vision_mlp_rotate": [0]`},
			"export_config.model_config.vision_mlp_rotate: the qwen2-vl runtime MLP wrappers"},
		{"skip_layers as a list", []string{expMC, expMC + `, "skip_layers": ["lm_head"]`},
			"export_config.model_config.skip_layers: expected object, got array"},
		{"skip_layers unknown subkey", []string{expMC, expMC + `, "skip_layers": {"skip_exports": ["a"]}`},
			"export_config.model_config.skip_layers.skip_exports: unknown key"},
		{"rule list element type", []string{expMC, expMC + `, "special_quantization_rules": {"head_layers": ["a", 3]}`},
			"export_config.model_config.special_quantization_rules.head_layers[1]: expected string, got int 3"},
		{"rule as a string", []string{expMC, expMC + `, "special_quantization_rules": {"head_layers": "lm_head"}`},
			"export_config.model_config.special_quantization_rules.head_layers: expected a list of strings, got string"},
		{"empty rule substring", []string{expMC, expMC + `, "special_quantization_rules": {"skip_layers": [""]}`},
			"export_config.model_config.special_quantization_rules.skip_layers[0]: an empty substring"},
		{"syntax error", []string{`"num_samples": 2,`, `"num_samples": 2,,`},
			"invalid JSON at line 5, column 23"},
		{"NaN literal", []string{`"num_samples": 2`, `"num_samples": NaN`},
			"invalid JSON at line 5"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(edit(t, tc.pairs...))
			if err == nil {
				t.Fatalf("accepted; want error %q", tc.want)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("error %q\nwant prefix %q", err, tc.want)
			}
		})
	}
}

func TestParseRoot(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`[]`, "<root>: expected object, got array"},
		{`{}`, "profile_config: missing required key"},
		{`{"profile_config": [], "export_config": {}}`, "profile_config: expected object, got array"},
		{``, "invalid JSON"},
		{`{"profile_config": {}} x`, "invalid JSON"},
	} {
		_, err := Parse([]byte(tc.in))
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want prefix %q", tc.in, err, tc.want)
		}
	}
}

// TestMllmExamples loads mllm's shipped example configs, which mllm accepts.
func TestMllmExamples(t *testing.T) {
	tests := []struct {
		file     string
		warnings int
		check    func(*Config) bool
	}{
		{"mllm-qwen1.5-1.8b.json", 0, func(c *Config) bool {
			return c.Export.RPath == "./R/qwen1.5-1.8b-rotation-matrix.bin" && c.Profile.SaveRotation == c.Export.RPath
		}},
		{"mllm-qwen2.5-1.5b-qnn.json", 0, func(c *Config) bool { return c.Profile.NumSamples == 4 }},
		// Q19: the ShowUI example saves and loads different R paths.
		{"mllm-show-ui-2b.json", 1, func(c *Config) bool {
			return *c.Export.QuantizeVit && string(c.Export.Extra["rotate_vit"]) == "true" && c.Profile.ModelType == ModelTypeQwen2VL
		}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			c, err := Load(filepath.Join("../../testdata/config", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Fatalf("unexpected %+v", c)
			}
			if w := c.Warnings(); len(w) != tc.warnings {
				t.Fatalf("warnings %q, want %d", w, tc.warnings)
			}
		})
	}
}

// TestShippedConfig checks that configs/qwen1.5-1.8b.json is mllm's example.
func TestShippedConfig(t *testing.T) {
	a, err := os.ReadFile("../../configs/qwen1.5-1.8b.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(a); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("../../testdata/config/mllm-qwen1.5-1.8b.json")
	if err != nil {
		t.Fatal(err)
	}
	if string(a) != string(b) {
		t.Fatal("configs/qwen1.5-1.8b.json differs from mllm's example")
	}
}

func TestLoadErrorNamesFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.json")
	if err := os.WriteFile(p, edit(t, `"num_samples": 2`, `"num_samples": 64.0`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(p)
	if err == nil || !strings.HasPrefix(err.Error(), p+": profile_config.num_samples:") {
		t.Fatalf("error %v", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.json")); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Fatalf("error %v", err)
	}
}

func TestWarnings(t *testing.T) {
	tests := []struct {
		name  string
		pairs []string
		want  string
	}{
		{"unsaved rotation", []string{`"save_rotation": "R/r.bin"`, `"save_rotation": ""`}, "save_rotation is empty"},
		{"paths differ", []string{`"save_rotation": "R/r.bin"`, `"save_rotation": "R/other.bin"`}, "differs from export_config.model_config.R_path"},
		{"online_rotation differs", []string{expMC, `"online_rotation": false`}, "online_rotation is true in profile_config but false in export_config"},
		{"ignored R keys", []string{expMC, `"R_path": "x"`}, "export_config.model_config.R_path is ignored"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse(edit(t, tc.pairs...))
			if err != nil {
				t.Fatal(err)
			}
			w := strings.Join(c.Warnings(), "\n")
			if !strings.Contains(w, tc.want) {
				t.Fatalf("warnings %q, want %q", w, tc.want)
			}
		})
	}
}

func TestEnsureParentDir(t *testing.T) {
	dir := t.TempDir()
	// Q6: an output path without an extension must not become a directory.
	for _, rel := range []string{"a/b/model", "c/scales.json", "top"} {
		p := filepath.Join(dir, rel)
		if err := EnsureParentDir(p); err != nil {
			t.Fatal(err)
		}
		if st, err := os.Stat(filepath.Dir(p)); err != nil || !st.IsDir() {
			t.Fatalf("parent of %s not created: %v", rel, err)
		}
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Fatalf("%s itself was created (err %v)", rel, err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := EnsureParentDir(filepath.Join(dir, "a")); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Fatalf("existing directory accepted: %v", err)
	}
	if err := EnsureParentDir(""); err == nil {
		t.Fatal("empty path accepted")
	}
	// A parent that is a file cannot be created.
	if err := EnsureParentDir(filepath.Join(dir, "top", "x.json")); err == nil {
		t.Fatal("parent that is a file accepted")
	}
}
