package jsonr

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// readAny reads the next value into the types encoding/json gives an any
// (numbers as json.Number), the later of two equal keys winning, as in
// encoding/json.
func readAny(r *Reader) any {
	switch r.Peek() {
	case Null:
		r.Skip()
		return nil
	case False, True:
		return string(r.Raw()) == "true"
	case Number:
		return json.Number(r.Number())
	case String:
		return r.String()
	case Object:
		m := map[string]any{}
		for k := range r.Members() {
			key := string(k)
			m[key] = readAny(r)
		}
		return m
	case Array:
		a := []any{}
		for range r.Elements() {
			a = append(a, readAny(r))
		}
		return a
	default:
		r.Skip()
		return nil
	}
}

// decodeAny is encoding/json's reading of a valid document.
func decodeAny(t testing.TB, data []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("encoding/json refused a document json.Valid accepts: %v: %q", err, data)
	}
	if a, ok := v.([]any); ok && len(a) == 0 {
		v = []any{}
	}
	return v
}

// checkAgainstEncodingJSON holds Reader to encoding/json on data: both
// accept it or both refuse it, and when they accept it, a full walk and a
// skip give the same value and the same verdict.
func checkAgainstEncodingJSON(t testing.TB, data []byte) {
	t.Helper()
	valid := json.Valid(data)

	r := NewReader(data)
	got := readAny(r)
	err := r.Finish()
	if valid != (err == nil) {
		t.Fatalf("json.Valid says %v, Reader says %v, for %q", valid, err, data)
	}
	if err != nil {
		var se *SyntaxError
		if !errors.As(err, &se) || se.Offset < 0 || se.Offset > len(data) {
			t.Fatalf("error %v is not a SyntaxError with an offset inside the input", err)
		}
	}

	s := NewReader(data)
	s.Skip()
	if serr := s.Finish(); valid != (serr == nil) {
		t.Fatalf("json.Valid says %v, Skip says %v, for %q", valid, serr, data)
	}
	if !valid {
		return
	}
	if want := decodeAny(t, data); !reflect.DeepEqual(got, want) {
		t.Fatalf("Reader read %#v, encoding/json %#v, from %q", got, want, data)
	}
}

var documents = []string{
	`null`, `true`, `false`, `0`, `-0`, `12`, `-12.5e+3`, `1E9`, `0.5`, `""`, `"a"`,
	`{}`, `[]`, ` { } `, "\t[\n1 ,\r2 ]\n", `{"a":1,"b":[true,false,null],"c":{"d":"e"}}`,
	`{"a":1,"a":2}`, `[[[[]]]]`, `{"":""}`,
	`"\"\\\/\b\f\n\r\t"`, `"\u0041\u00e9\u4e2d"`, `"\ud83d\ude00"`, `"\ud83d"`, `"\ude00x"`, `"\ud83dx\ude00"`,
	`"\ud83d\u0041"`, "\"\xff\"", "\"a\xe4\xb8\"", `{"\u0061":1,"a":2}`, "{\"\xff\":1}",
	`{"k\u00e9y":"v"}`, `"é中😀"`,
	// invalid
	``, ` `, `nul`, `nulll`, `tru`, `True`, `01`, `-`, `1.`, `.5`, `1e`, `1e+`, `+1`, `0x1`, `NaN`,
	`"`, `"abc`, `"\x"`, `"\u12"`, `"\u12G4"`, "\"a\x01b\"", `{`, `}`, `[`, `]`, `[1,]`, `[,1]`, `{"a"}`,
	`{"a":}`, `{"a":1,}`, `{a:1}`, `{"a" 1}`, `{"a":1 "b":2}`, `[1 2]`, `1 2`, `{} {}`, `[]]`, `"a"x`,
	`{"a":1}}`, `'a'`, "\x00", `[1,2`, `{"a":[1,{"b":}]}`,
}

func TestReaderAgreesWithEncodingJSON(t *testing.T) {
	for _, d := range documents {
		checkAgainstEncodingJSON(t, []byte(d))
	}
}

func TestNestingLimitIsEncodingJSONs(t *testing.T) {
	for _, depth := range []int{maxDepth, maxDepth + 1} {
		for _, open := range []string{"[", `{"a":`} {
			closer := "]"
			if open != "[" {
				closer = "}"
			}
			doc := []byte(strings.Repeat(open, depth) + "1" + strings.Repeat(closer, depth))
			checkAgainstEncodingJSON(t, doc)
			if err := func() error { r := NewReader(doc); r.Skip(); return r.Finish() }(); (err == nil) != (depth <= maxDepth) {
				t.Errorf("depth %d of %q: %v", depth, open, err)
			}
		}
	}
}

func TestMembersSkipWhatTheBodyLeaves(t *testing.T) {
	doc := []byte(`{"skip":{"x":[1,2,{"y":"z"}]},"want":"v\u00e9","tail":[{}]}`)
	r := NewReader(doc)
	var got string
	var keys []string
	for k := range r.Members() {
		keys = append(keys, string(k))
		if string(k) == "want" {
			got = r.String()
		}
	}
	if err := r.Finish(); err != nil {
		t.Fatal(err)
	}
	if got != "vé" || strings.Join(keys, ",") != "skip,want,tail" {
		t.Fatalf("got %q, keys %v", got, keys)
	}
}

func TestRawValuesAliasTheDocument(t *testing.T) {
	doc := []byte(`{"s":"a\nb","n":-1.5e3,"o":{"k":[1]}}`)
	r := NewReader(doc)
	got := map[string]string{}
	for k := range r.Members() {
		switch string(k) {
		case "s":
			raw, _ := r.RawString()
			got["s"] = string(raw)
		case "n":
			got["n"] = string(r.Number())
		case "o":
			got["o"] = string(r.Raw())
		}
	}
	if err := r.Finish(); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"s": `"a\nb"`, "n": "-1.5e3", "o": `{"k":[1]}`}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestReadingTheWrongKindIsAnError(t *testing.T) {
	for _, tc := range []struct {
		doc  string
		read func(*Reader)
	}{
		{`1`, func(r *Reader) { _ = r.String() }},
		{`"1"`, func(r *Reader) { r.Number() }},
		{`[]`, func(r *Reader) {
			for range r.Members() {
			}
		}},
		{`{}`, func(r *Reader) {
			for range r.Elements() {
			}
		}},
		{``, func(r *Reader) { r.Skip() }},
	} {
		r := NewReader([]byte(tc.doc))
		tc.read(r)
		var se *SyntaxError
		if err := r.Finish(); !errors.As(err, &se) {
			t.Errorf("%q: got %v, want a SyntaxError", tc.doc, err)
		}
		if r.Peek() != Invalid || r.String() != "" || r.Raw() != nil {
			t.Errorf("%q: reads after an error return values", tc.doc)
		}
	}
}

func TestKeyWithEscapesIsDecoded(t *testing.T) {
	r := NewReader([]byte(`{"pl\u0061n_id":"x"}`))
	for k := range r.Members() {
		if string(k) != "plan_id" {
			t.Errorf("key %q, want plan_id", k)
		}
	}
	if err := r.Finish(); err != nil {
		t.Fatal(err)
	}
}

func FuzzReader(f *testing.F) {
	for _, d := range documents {
		f.Add([]byte(d))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkAgainstEncodingJSON(t, data)
	})
}

// rawStringV1 is rawString as it was before its word-at-a-time rewrite, kept
// to hold the rewrite to the same end, verdict and error.
func (r *Reader) rawStringV1() (escaped bool) {
	d := r.data
	for i := r.pos + 1; i < len(d); {
		switch c := d[i]; {
		case c == '"':
			r.pos = i + 1
			return escaped
		case c == '\\':
			escaped = true
			if i+1 >= len(d) {
				r.fail(i, "unterminated string")
				return
			}
			switch d[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(d) || !isHex4(d[i+2:i+6]) {
					r.fail(i, "invalid \\u escape")
					return
				}
				i += 6
			default:
				r.fail(i, "invalid escape")
				return
			}
		case c < 0x20:
			r.fail(i, "control character in string")
			return
		default:
			i++
		}
	}
	r.fail(len(d), "unterminated string")
	return
}

// checkRawStringSameAsV1 reads the string that opens data with rawString
// and rawStringV1, and fails unless they end alike.
func checkRawStringSameAsV1(t testing.TB, data []byte) {
	t.Helper()
	got, want := NewReader(data), NewReader(data)
	gotEscaped, ascii := got.rawString()
	wantEscaped := want.rawStringV1()
	if gotEscaped != wantEscaped || got.pos != want.pos || !reflect.DeepEqual(got.err, want.err) {
		t.Fatalf("rawString of %q: escaped %v, at %d, %v; was %v, at %d, %v",
			data, gotEscaped, got.pos, got.err, wantEscaped, want.pos, want.err)
	}
	if got.err != nil {
		return
	}
	s := data[:got.pos]
	wantASCII := !slices.ContainsFunc(s, func(c byte) bool { return c >= utf8.RuneSelf })
	if ascii != wantASCII {
		t.Fatalf("rawString of %q: ascii %v, want %v", data, ascii, wantASCII)
	}
	r := NewReader(data)
	if raw, valid := r.RawString(); !bytes.Equal(raw, s) || valid != utf8.Valid(s) {
		t.Fatalf("RawString of %q: %q, valid UTF-8 %v; want %q, %v", data, raw, valid, s, utf8.Valid(s))
	}
}

// TestRawStringSameAsV1 compares every string of up to two bytes, every
// byte in and after every escape, and every byte at every offset of a run
// long enough to span any block a scan takes, closed and unclosed.
func TestRawStringSameAsV1(t *testing.T) {
	for i := range 1 << 16 {
		checkRawStringSameAsV1(t, []byte{'"', byte(i)})
		checkRawStringSameAsV1(t, []byte{'"', byte(i), byte(i >> 8)})
		checkRawStringSameAsV1(t, []byte{'"', byte(i), byte(i >> 8), '"'})
	}
	for c := range 256 {
		for _, s := range []string{`"\%c"`, `"\%c`, `"\u%c0aF"`, `"\u0%caF"`, `"\u0a%cF"`, `"\u0aF%c"`, `"\u0aF%c`, `"\uD83D\uDE0%c"`} {
			checkRawStringSameAsV1(t, []byte(strings.Replace(s, "%c", string([]byte{byte(c)}), 1)))
		}
		base := strings.Repeat("abcdefgh", 5)
		for i := range len(base) + 1 {
			for _, tail := range []string{base[i:] + `"`, base[i:], ""} {
				checkRawStringSameAsV1(t, []byte(`"`+base[:i]+string([]byte{byte(c)})+tail))
			}
		}
	}
}

// TestNotPlain8FindsTheFirstStop holds notPlain8 to the table for every
// pair of bytes at every offset of a word (the bytes below them plain,
// those above varied) and for random words.
func TestNotPlain8FindsTheFirstStop(t *testing.T) {
	check := func(w []byte) {
		first := 8
		for j, c := range w {
			if !plain[c] {
				first = j
				break
			}
		}
		if got := bits.TrailingZeros64(notPlain8(binary.LittleEndian.Uint64(w))) / 8; got != first {
			t.Fatalf("notPlain8(%q) flags byte %d first, want %d", w, got, first)
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
		binary.LittleEndian.PutUint64(w, rng.Uint64())
		check(w)
	}
}

func FuzzRawString(f *testing.F) {
	for _, d := range documents {
		if strings.HasPrefix(d, `"`) {
			f.Add([]byte(d[1:]))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkRawStringSameAsV1(t, append([]byte{'"'}, data...))
	})
}

func BenchmarkSkip(b *testing.B) {
	doc := []byte(`{"data":[` + strings.Repeat(`{"contract_id":"wxcontract0001","mchid":"1900000109","create_time":"2019-09-29T14:00:00+08:00"},`, 19) +
		`{"contract_id":"wxcontract0001"}],"total_count":27,"links":{"self":"/v3/x?offset=0"}}`)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		r := NewReader(doc)
		r.Skip()
		if err := r.Finish(); err != nil {
			b.Fatal(err)
		}
	}
}

// page is a WeChat Pay contract list of 20 items, 8 string values each,
// about 6 KB: the body the function reads on each invocation.
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

// BenchmarkReadPage walks a page as package contracts does: each item's
// members, each value read with RawString, the rest skipped.
func BenchmarkReadPage(b *testing.B) {
	doc := page()
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		r := NewReader(doc)
		n := 0
		for key := range r.Members() {
			if string(key) != "data" {
				continue
			}
			for range r.Elements() {
				for range r.Members() {
					raw, _ := r.RawString()
					n += len(raw)
				}
			}
		}
		if err := r.Finish(); err != nil || n == 0 {
			b.Fatal(err, n)
		}
	}
}

// TestMatchIsEncodingJSONsFieldChoice holds Match to the field encoding/json
// fills for a key.
func TestMatchIsEncodingJSONsFieldChoice(t *testing.T) {
	type fields struct {
		A string `json:"plan_id"`
		B string `json:"Plan_ID"`
		C string `json:"kelvin"`
	}
	names := []string{"plan_id", "Plan_ID", "kelvin"}
	for _, key := range []string{"plan_id", "Plan_ID", "PLAN_ID", "plan_Id", "kelvin", "\u212aelvin", "KELVIN", "other", ""} {
		var f fields
		doc, _ := json.Marshal(map[string]string{key: "x"})
		if err := json.Unmarshal(doc, &f); err != nil {
			t.Fatal(err)
		}
		want := -1
		for i, v := range []string{f.A, f.B, f.C} {
			if v == "x" {
				want = i
			}
		}
		if got := Match([]byte(key), names...); got != want {
			t.Errorf("Match(%q) = %d, encoding/json fills field %d", key, got, want)
		}
	}
}
