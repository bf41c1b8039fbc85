package vector

import (
	"math"
	"testing"
)

func TestVector(t *testing.T) {
	v := []float32{3, 4, 0, 0, 0}
	Normalize(v)
	if math.Abs(float64(v[0])-0.6) > 1e-6 || math.Abs(float64(v[1])-0.8) > 1e-6 {
		t.Errorf("normalize: %v", v)
	}
	zero := []float32{0, 0}
	Normalize(zero)
	if zero[0] != 0 || zero[1] != 0 {
		t.Errorf("zero vector changed: %v", zero)
	}
	if d := Dot([]float32{1, 2, 3, 4, 5}, []float32{5, 4, 3, 2, 1, 99}); d != 35 {
		t.Errorf("dot = %v, want 35", d)
	}
	p := Pool([][]float32{{1, 0}, {0, 1}})
	if math.Abs(float64(p[0])-math.Sqrt2/2) > 1e-6 || p[0] != p[1] {
		t.Errorf("pool = %v", p)
	}
	if Pool(nil) != nil {
		t.Error("pool of nothing")
	}
}
