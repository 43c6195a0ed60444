package jsonw

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// reference is what encoding/json writes, without HTML escaping.
func reference(s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	return string(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}

// appendStringV1 is AppendString as it was before its word-at-a-time
// rewrite, kept to hold the rewrite to the same output byte for byte
// (which differs from encoding/json's: \u0008 and \u000c for \b and \f,
// U+2028 and U+2029 left as they are).
func appendStringV1[T ~string | ~[]byte](b []byte, s T) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))]))
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// checkSameAsV1 fails unless AppendString writes s exactly as appendStringV1
// does, from a string and from a byte slice, after a prefix.
func checkSameAsV1(t testing.TB, s string) {
	t.Helper()
	want := appendStringV1([]byte("x"), s)
	if got := AppendString([]byte("x"), s); !bytes.Equal(got, want) {
		t.Fatalf("AppendString(%q) = %q, was %q", s, got, want)
	}
	if got := AppendString([]byte("x"), []byte(s)); !bytes.Equal(got, want) {
		t.Fatalf("AppendString([]byte(%q)) = %q, was %q", s, got, want)
	}
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

// TestAppendStringKeepsItsQuirks pins where AppendString's output differs
// from encoding/json's, so that a rewrite cannot change it unnoticed.
func TestAppendStringKeepsItsQuirks(t *testing.T) {
	for s, want := range map[string]string{
		"\b\f":          `"\u0008\u000c"`,
		"\u2028\u2029":  "\"\u2028\u2029\"",
		"\x7f":          "\"\x7f\"",
		"\ufffd":        "\"\ufffd\"",
		"\xed\xa0\x80":  `"\ufffd\ufffd\ufffd"`, // an encoded surrogate
		"\xe4\xb8":      `"\ufffd\ufffd"`,
		"a\xf0\x9f\x98": `"a\ufffd\ufffd\ufffd"`,
	} {
		if got := string(AppendString(nil, s)); got != want {
			t.Errorf("AppendString(%q) = %s, want %s", s, got, want)
		}
	}
}

// TestAppendStringSameAsV1 compares every string of up to two bytes, every
// rune (surrogates encoded as if they were runes included), and every byte
// at every offset of a run long enough to span any block a scan takes.
func TestAppendStringSameAsV1(t *testing.T) {
	for i := range 1 << 16 {
		checkSameAsV1(t, string([]byte{byte(i)}))
		checkSameAsV1(t, string([]byte{byte(i), byte(i >> 8)}))
	}
	for r := rune(0); r <= utf8.MaxRune; r++ {
		enc := string([]byte{0xe0 | byte(r>>12), 0x80 | byte(r>>6)&0x3f, 0x80 | byte(r)&0x3f})
		if utf8.ValidRune(r) {
			enc = string(r)
		}
		checkSameAsV1(t, "a"+enc+"b")
	}
	base := strings.Repeat("abcdefgh", 5)
	for c := range 256 {
		for i := range len(base) + 1 {
			checkSameAsV1(t, base[:i]+string([]byte{byte(c)})+base[i:])
			checkSameAsV1(t, base[:i]+string([]byte{byte(c)}))
		}
	}
}

// TestUnsafe8FindsTheFirstUnsafeByte holds unsafe8 to the table for every
// pair of bytes at every offset of a word (the bytes below them safe, those
// above varied) and for random words.
func TestUnsafe8FindsTheFirstUnsafeByte(t *testing.T) {
	check := func(w []byte) {
		first := 8
		for j, c := range w {
			if !safe[c] {
				first = j
				break
			}
		}
		if got := bits.TrailingZeros64(unsafe8(load8(w, 0))) / 8; got != first {
			t.Fatalf("unsafe8(%q) flags byte %d first, want %d", w, got, first)
		}
	}
	w := make([]byte, 8)
	for p := range 8 {
		for v := range 1 << 16 {
			for j := range w {
				w[j] = 'a' + byte(j)
			}
			w[p] = byte(v)
			if p < 7 {
				w[p+1] = byte(v >> 8)
			}
			for j := p + 2; j < 8; j++ {
				w[j] = byte(v) + byte(j)*37
			}
			check(w)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 1 << 20 {
		binary.LittleEndian.PutUint64(w, rng.Uint64()&^(rng.Uint64()&hi)) // fewer high bits
		check(w)
	}
}

func FuzzAppendString(f *testing.F) {
	f.Add("a\"b\\c\x00\xff用")
	f.Add(string(page()))
	f.Add("\u2028\u2029\b\f\x7f\xed\xa0\x80\xf4\x90\x80\x80")
	f.Fuzz(func(t *testing.T, s string) {
		checkSameAsV1(t, s)
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

// page is a WeChat Pay contract list of 20 items, 8 string values each,
// about 6 KB: the body AppendString writes on each invocation.
func page() []byte {
	var b strings.Builder
	b.WriteString(`{"data":[`)
	for i := range 20 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"contract_id":"wxc201909291400%016d","mchid":"1900000109","appid":"wxd678efh567hg6787",`+
			`"openid":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o%02d","plan_id":"12535","contract_status":"ADD",`+
			`"create_time":"2019-09-29T14:00:00+08:00","out_contract_code":"campuspay-dormitory-CP2019092914%06d"}`, i, i, i)
	}
	b.WriteString(`],"total_count":20,"offset":0,"limit":20,"links":{"next":"","prev":"","self":"/v3/papay/sign/contracts?offset=0&limit=20"}}`)
	return []byte(b.String())
}

func BenchmarkAppendString(b *testing.B) {
	body := page()
	buf := make([]byte, 0, len(body)+len(body)/4+256) // as invocation.Encode sizes it
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendString(buf[:0], body)
	}
}

// BenchmarkAppendStringShort writes header-sized strings, the other use.
func BenchmarkAppendStringShort(b *testing.B) {
	strs := []string{"Content-Type", "application/json; charset=utf-8", "Request-ID", "08F1A2B3C4D5E6F70819202122232425"}
	n := 0
	for _, s := range strs {
		n += len(s)
	}
	buf := make([]byte, 0, 256)
	b.SetBytes(int64(n))
	b.ReportAllocs()
	for b.Loop() {
		buf = buf[:0]
		for _, s := range strs {
			buf = AppendString(buf, s)
		}
	}
}

// TestAppendStringContentsIsAppendStringUnquoted: the contents are what
// AppendString writes between its quotes, for strings of every kind.
func TestAppendStringContentsIsAppendStringUnquoted(t *testing.T) {
	for _, s := range []string{"", "plain", `"quoted" \ back`, "tab\tnl\nnul\x00", "中文😀", "bad\xff\xfeutf8", "\u2028"} {
		full := AppendString([]byte("x"), s)
		if got := AppendStringContents([]byte("x"), s); string(got) != "x"+string(full[2:len(full)-1]) {
			t.Errorf("AppendStringContents(%q) = %q, AppendString wrote %q", s, got, full)
		}
	}
}
