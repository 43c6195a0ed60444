package jsonw

import (
	"encoding/json"
	"math"
	"testing"
)

func checkFloat(t *testing.T, f float64) {
	t.Helper()
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return
	}
	want, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	if got := AppendFloat(nil, f); string(got) != string(want) {
		t.Fatalf("AppendFloat(%v) = %s, encoding/json writes %s", f, got, want)
	}
}

func TestAppendFloatIsEncodingJSONs(t *testing.T) {
	for _, f := range []float64{0, math.Copysign(0, -1), 1, -1, 0.001, 1.234, 12.5, 1e-6, 9.99e-7, 1e-7, 1.5e-10,
		1e20, 1e21, 123456789012345678901234.0, -1e-7, math.MaxFloat64, math.SmallestNonzeroFloat64} {
		checkFloat(t, f)
	}
}

func FuzzAppendFloat(f *testing.F) {
	f.Add(1.234)
	f.Add(1e-7)
	f.Add(1e21)
	f.Fuzz(checkFloat)
}
