package summary

import (
	"math/rand/v2"
	"testing"
)

// Merge gives what adding the other sketch's values one by one gives:
// while both are exact and together fit, and past maxExact (histograms).
func TestSketchMerge(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct{ a, b int }{{0, 0}, {0, 5}, {5, 0}, {1000, 3000}, {maxExact - 10, 100}, {maxExact + 5, 20}, {30, maxExact + 1}} {
		var a, b, want Sketch
		for range tc.a {
			v := rng.ExpFloat64()
			a.Add(v)
			want.Add(v)
		}
		for range tc.b {
			v := rng.ExpFloat64() * 3
			b.Add(v)
		}
		b.Each(func(v float64, n int) {
			for range n {
				want.Add(v)
			}
		})
		a.Merge(&b)
		if a.Len() != want.Len() || a.Max() != want.Max() {
			t.Errorf("%d+%d values: merged len %d max %g, want %d, %g", tc.a, tc.b, a.Len(), a.Max(), want.Len(), want.Max())
		}
		for _, q := range []float64{0.5, 0.9, 0.99} {
			if got, w := a.Quantile(q), want.Quantile(q); got != w {
				t.Errorf("%d+%d values: merged p%g %g, want %g", tc.a, tc.b, q*100, got, w)
			}
		}
	}
}
