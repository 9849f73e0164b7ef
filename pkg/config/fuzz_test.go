package config

import "testing"

// FuzzParseConfig: arbitrary bytes give an error or a config that satisfies
// every validated invariant, never a panic. The seed corpus is in
// testdata/fuzz/FuzzParseConfig.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{"profile_config":{"dataset_path":"d","output_path":"o.json","num_samples":2,"no_bias":true,"model_config":{"model_type":"qwen2","tokenizer_name":"m","model_name":"m","online_rotation":true,"random_rotate":true,"save_rotation":"R.bin"}},"export_config":{"scale_file":"o.json","output_model":"q.pth","t01m_clip_threshold":64,"quant_bias":false,"model_config":{"model_type":"qwen2","tokenizer_name":"m","model_name":"m","online_rotation":true,"R_path":"R.bin"}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		p, e := &c.Profile, &c.Export
		if p.NumSamples < 2 {
			t.Fatalf("num_samples %d accepted", p.NumSamples)
		}
		if p.DatasetPath == "" || p.OutputPath == "" || e.ScaleFile == "" || e.OutputModel == "" {
			t.Fatal("empty required path accepted")
		}
		for _, m := range []*ModelConfig{&p.ModelConfig, &e.ModelConfig} {
			if m.RandomRotate && m.RPath != "" {
				t.Fatal("random_rotate and R_path both accepted")
			}
			if m.OnlineRotation && !m.RandomRotate && m.RPath == "" {
				t.Fatal("online_rotation without a rotation source accepted")
			}
		}
		if p.ModelType != e.ModelType || p.ModelName != e.ModelName || p.TokenizerName != e.TokenizerName {
			t.Fatal("differing model_configs accepted")
		}
		if e.T01mClipThreshold == nil && !e.ClipAll {
			t.Fatal("no t01m_clip_threshold and no clip_all accepted")
		}
		_ = c.Warnings()
	})
}
