// Package vector is the small vector arithmetic the model, the pipeline and
// the local index share: L2 normalisation, dot product, mean pooling.
package vector

import "math"

// Normalize scales v to unit length in place (a zero vector stays zero).
func Normalize(v []float32) {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	if s == 0 {
		return
	}
	inv := 1 / math.Sqrt(s)
	for i := range v {
		v[i] = float32(float64(v[i]) * inv)
	}
}

// Dot is the dot product of a and b[:len(a)]: the cosine similarity of unit
// vectors. Four accumulators let the CPU overlap the multiply-adds; it is the
// inner loop of every exact search.
func Dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return s0 + s1 + s2 + s3
}

// Pool averages vectors (the frames of one chunk) into one unit vector.
func Pool(vs [][]float32) []float32 {
	if len(vs) == 0 {
		return nil
	}
	out := make([]float32, len(vs[0]))
	for _, v := range vs {
		for i := range out {
			if i < len(v) {
				out[i] += v[i]
			}
		}
	}
	Normalize(out)
	return out
}
