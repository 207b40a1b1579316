package spectra

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// testRows is n rows of width w with a large common offset (1e3 in every column, to stress the
// update's numerical stability), correlated columns and column scales from 0.01 to 10.
func testRows(seed uint64, n, w int) []float32 {
	rng := rand.New(rand.NewPCG(seed, 7))
	x := make([]float32, n*w)
	for r := range n {
		z := rng.NormFloat64()
		for j := range w {
			scale := math.Pow(10, float64(j%4)-2)
			x[r*w+j] = float32(1e3 + scale*(rng.NormFloat64()+0.5*z))
		}
	}
	return x
}

// twoPass is the textbook scatter: the mean first, then Σ (x−μ)(x−μ)ᵀ, in float64.
func twoPass(x []float32, n, w int) (mean, m2 []float64) {
	mean = make([]float64, w)
	for r := range n {
		for j := range w {
			mean[j] += float64(x[r*w+j])
		}
	}
	for j := range mean {
		mean[j] /= float64(n)
	}
	m2 = make([]float64, w*w)
	d := make([]float64, w)
	for r := range n {
		for j := range w {
			d[j] = float64(x[r*w+j]) - mean[j]
		}
		for i := range w {
			for j := range w {
				m2[i*w+j] += d[i] * d[j]
			}
		}
	}
	return mean, m2
}

// maxRelErr compares scatter matrices entrywise relative to √(M2ᵢᵢ M2ⱼⱼ), and means relative
// to the column's standard deviation scale.
func maxRelErr(t *testing.T, c *Covariance, mean, m2 []float64) (float64, float64) {
	t.Helper()
	w := c.Width()
	got := c.Scatter(nil)
	gm := c.Mean(nil)
	var em, es float64
	for i := range w {
		em = max(em, math.Abs(gm[i]-mean[i])/math.Sqrt(m2[i*w+i]))
		for j := range w {
			es = max(es, math.Abs(got[i*w+j]-m2[i*w+j])/math.Sqrt(m2[i*w+i]*m2[j*w+j]))
		}
	}
	return em, es
}

func TestStreamingEqualsTwoPass(t *testing.T) {
	for _, w := range []int{37, 259} { // one strip; two strips (kernels.Tile = 256)
		testStreaming(t, w)
	}
}

func testStreaming(t *testing.T, w int) {
	const n = 1000
	x := testRows(1, n, w)
	mean, m2 := twoPass(x, n, w)
	for _, f32 := range []bool{false, true} {
		c := NewCovariance(w, Options{ChunkRows: 64, Float32Products: f32})
		rng := rand.New(rand.NewPCG(2, 2))
		for r := 0; r < n; { // batches of random sizes 1..150, each split into ≤ 64-row chunks
			k := min(1+rng.IntN(150), n-r)
			if err := c.Add(x[r*w:(r+k)*w], k); err != nil {
				t.Fatal(err)
			}
			r += k
		}
		if c.N() != n {
			t.Fatalf("N = %d", c.N())
		}
		em, es := maxRelErr(t, c, mean, m2)
		// float64 products: rounding only (the state is kept relative to the first chunk's
		// mean, so the 1e3 offset does not scale the error); float32 products: each
		// chunk's entries carry ≤ 4(k+2)·2⁻²⁴ of √(SᵢᵢSⱼⱼ), which sums to the same bound
		// relative to √(M2ᵢᵢM2ⱼⱼ) (Cauchy–Schwarz over chunks).
		bound := 1e-13
		if f32 {
			bound = 4 * (64 + 2) * 0x1p-24
		}
		if em > 1e-13 || es > bound {
			t.Errorf("width %d, float32 products %v: mean error %.3g, scatter error %.3g (bound %.3g)", w, f32, em, es, bound)
		}
		t.Logf("width %d, float32 products %v: mean error %.3g, scatter error %.3g", w, f32, em, es)
	}
}

func TestMergeEqualsSinglePass(t *testing.T) {
	const n, w = 600, 29
	x := testRows(3, n, w)
	single := NewCovariance(w, Options{})
	if err := single.Add(x, n); err != nil {
		t.Fatal(err)
	}
	// Three partial accumulators of unequal sizes (one empty), merged in a scrambled order.
	cuts := []int{0, 50, 50, 420, n}
	parts := make([]*Covariance, len(cuts)-1)
	for i := range parts {
		parts[i] = NewCovariance(w, Options{ChunkRows: 100})
		if err := parts[i].Add(x[cuts[i]*w:cuts[i+1]*w], cuts[i+1]-cuts[i]); err != nil {
			t.Fatal(err)
		}
	}
	merged := NewCovariance(w, Options{})
	for _, i := range []int{2, 1, 3, 0} {
		if err := merged.Merge(parts[i]); err != nil {
			t.Fatal(err)
		}
	}
	if merged.N() != n {
		t.Fatalf("merged N = %d", merged.N())
	}
	mean, m2 := single.Mean(nil), single.Scatter(nil)
	em, es := maxRelErr(t, merged, mean, m2)
	if em > 1e-13 || es > 1e-13 {
		t.Errorf("merge vs single pass: mean error %.3g, scatter error %.3g", em, es)
	}
	// Merging is also Add's update: merging into a non-empty accumulator.
	if err := parts[0].Merge(parts[3]); err != nil {
		t.Fatal(err)
	}
	if err := parts[0].Merge(NewCovariance(w+1, Options{})); err == nil {
		t.Error("merging widths 29 and 30 gave no error")
	}
}

func TestAddMaskedAndErrors(t *testing.T) {
	const n, w = 40, 5
	x := testRows(4, n, w)
	mask := make([]bool, n)
	var kept []float32
	for r := range n {
		mask[r] = r%3 != 0
		if mask[r] {
			kept = append(kept, x[r*w:(r+1)*w]...)
		}
	}
	a, b := NewCovariance(w, Options{ChunkRows: 7}), NewCovariance(w, Options{})
	if err := a.AddMasked(x, mask); err != nil {
		t.Fatal(err)
	}
	if err := b.Add(kept, len(kept)/w); err != nil {
		t.Fatal(err)
	}
	em, es := maxRelErr(t, a, b.Mean(nil), b.Scatter(nil))
	if a.N() != b.N() || em > 1e-13 || es > 1e-13 {
		t.Errorf("masked: N %d vs %d, errors %.3g %.3g", a.N(), b.N(), em, es)
	}
	// Errors name the problem and leave the state alone.
	if err := a.Add(x[:7], 2); err == nil || !strings.Contains(err.Error(), "width 5") {
		t.Errorf("short rows: %v", err)
	}
	if err := a.AddMasked(x, mask[:3]); err == nil {
		t.Error("mask length mismatch accepted")
	}
	bad := append([]float32(nil), x[:2*w]...)
	bad[w+3] = float32(math.NaN())
	before := a.N()
	if err := a.Add(bad, 2); err == nil || !strings.Contains(err.Error(), "column 3") {
		t.Errorf("NaN: %v", err)
	}
	bad[w+3] = float32(math.Inf(-1))
	if err := a.Add(bad, 2); err == nil {
		t.Error("Inf accepted")
	}
	if a.N() != before {
		t.Errorf("a rejected batch changed N: %d → %d", before, a.N())
	}
	if _, err := NewCovariance(3, Options{}).Eigenvalues(nil); err == nil {
		t.Error("eigenvalues of an empty accumulator: no error")
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	const n, w = 30, 6
	a := NewCovariance(w, Options{})
	if err := a.Add(testRows(5, n, w), n); err != nil {
		t.Fatal(err)
	}
	data, err := a.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var b Covariance
	if err := b.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	if b.N() != a.N() || b.Width() != w {
		t.Fatalf("round trip: N %d width %d", b.N(), b.Width())
	}
	sa, sb, ma, mb := a.Scatter(nil), b.Scatter(nil), a.Mean(nil), b.Mean(nil)
	for i := range sa {
		if sa[i] != sb[i] {
			t.Fatalf("scatter[%d] %v != %v", i, sb[i], sa[i])
		}
	}
	for i := range ma {
		if ma[i] != mb[i] {
			t.Fatalf("mean[%d] %v != %v", i, mb[i], ma[i])
		}
	}
	// A restored accumulator keeps accumulating.
	if err := b.Add(testRows(6, 3, w), 3); err != nil || b.N() != n+3 {
		t.Fatalf("add after restore: %v, N %d", err, b.N())
	}
	for _, bad := range [][]byte{nil, []byte("nope"), data[:len(data)-8], append(append([]byte(nil), data...), 0)} {
		if err := b.UnmarshalBinary(bad); err == nil {
			t.Errorf("corrupt record of %d bytes accepted", len(bad))
		}
	}
}
