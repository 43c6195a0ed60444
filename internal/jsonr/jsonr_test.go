package jsonr

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
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
			got["s"] = string(r.RawString())
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
