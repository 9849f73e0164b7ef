package tokenizer

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestParseVocabFast(t *testing.T) {
	cases := []string{
		`{}`,
		`{"a": 0, "b":1 , "Ġthe":2}`,
		`{"\u0120x": 3, "q\"uote": 4, "back\\slash": 5, "\ud83d\ude00": 6, "nl\n": 7, "\/": 8}`,
		"{\"h\u00e9\": 9}",
	}
	for _, c := range cases {
		got, err := parseVocabFast(json.RawMessage(c))
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		var want map[string]int32
		if err := json.Unmarshal([]byte(c), &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %v, want %v", c, got, want)
		}
	}
	for _, bad := range []string{`{"a" 1}`, `{"a": x}`, `{"a": 1,}`, `{"a": 1} x`, `["a"]`, `{"a": -1}`} {
		if _, err := parseVocabFast(json.RawMessage(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestParseMergesFast(t *testing.T) {
	cases := []struct {
		in   string
		want [][2]string
	}{
		{`[]`, nil},
		{`["a b", "Ġ Ġ"]`, [][2]string{{"a", "b"}, {"Ġ", "Ġ"}}},
		{`[["a","b"], [ "c d" , "e" ]]`, [][2]string{{"a", "b"}, {"c d", "e"}}},
		{`["[ ]"]`, [][2]string{{"[", "]"}}},
	}
	for _, c := range cases {
		got, err := parseMergesFast(json.RawMessage(c.in))
		if err != nil {
			t.Fatalf("%s: %v", c.in, err)
		}
		if len(got) != len(c.want) || (len(got) > 0 && !reflect.DeepEqual(got, c.want)) {
			t.Errorf("%s: got %q, want %q", c.in, got, c.want)
		}
	}
	for _, bad := range []string{`["ab"]`, `[["a"]]`, `[["a","b","c"]]`, `[1]`, `["a b"`} {
		if _, err := parseMergesFast(json.RawMessage(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
