package spectra

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/neuronscope/neuronscope/internal/linalg"
	"github.com/neuronscope/neuronscope/probes/internal/kernels"
)

// DefaultChunkRows is the number of rows one covariance update handles when Options.ChunkRows
// is 0: larger batches are split into chunks of this many rows, each merged in turn.
const DefaultChunkRows = 1024

// Options configures a Covariance.
type Options struct {
	// Float32Products computes each chunk's centred scatter AᵀA with float32 products
	// (sgemm: about twice as fast as dgemm with OpenBLAS) and adds it to the float64
	// accumulator. The batch mean, the centring and every accumulation stay in float64; the
	// products carry a relative error of order √ChunkRows·2⁻²⁴ (about 2e-6 for 1024 rows)
	// on each entry. Default false: every product in float64.
	Float32Products bool
	// ChunkRows bounds the rows of one update (default DefaultChunkRows); it sets the size of
	// the centred scratch buffer, ChunkRows × width values (shared by all accumulators).
	ChunkRows int
}

// Covariance accumulates the mean and the scatter matrix M2 = Σ (x−μ)(x−μ)ᵀ of activation rows
// x ∈ R^width in float64, one batch at a time, with Chan et al.'s parallel update. The zero
// value is not usable; call NewCovariance.
type Covariance struct {
	width int
	opts  Options
	n     int64
	// shift is a per-column reference K (the mean of the first chunk): the state is kept for
	// the shifted rows x − K, so that rounding scales with the spread of a column, not with
	// the magnitude of its mean.
	shift []float64     // [width]
	mean  []float64     // [width]: mean of x − K
	m2    kernels.Upper // upper triangle of M2 in strips

	bmean []float64 // [width] scratch: the chunk mean
	delta []float64 // [width] scratch
}

// Scratch for the centred chunk (and the float32 strip) is shared by all accumulators: a
// model's 2 × n_layers accumulators are updated one after the other.
var (
	scratch64 sync.Pool // *[]float64
	scratch32 sync.Pool // *[]float32
)

// getScratch returns a buffer of n values from pool (allocated when the pool has none big
// enough); the caller puts it back.
func getScratch[T float32 | float64](pool *sync.Pool, n int) *[]T {
	if b, ok := pool.Get().(*[]T); ok && cap(*b) >= n {
		*b = (*b)[:n]
		return b
	}
	b := make([]T, n)
	return &b
}

// NewCovariance returns an empty accumulator for rows of the given width. It panics if
// width < 1.
func NewCovariance(width int, opts Options) *Covariance {
	if width < 1 {
		panic(fmt.Sprintf("spectra: covariance width %d < 1", width))
	}
	if opts.ChunkRows <= 0 {
		opts.ChunkRows = DefaultChunkRows
	}
	return &Covariance{width: width, opts: opts, shift: make([]float64, width), mean: make([]float64, width),
		m2: kernels.NewUpper(width)}
}

// Width is the number of variables (activation columns).
func (c *Covariance) Width() int { return c.width }

// N is the number of rows accumulated so far.
func (c *Covariance) N() int64 { return c.n }

// Reset empties the accumulator, keeping its buffers.
func (c *Covariance) Reset() {
	c.n = 0
	clear(c.shift)
	clear(c.mean)
	clear(c.m2.Data)
}

// Add accumulates rows of activations: x is [rows, width] row-major. It returns an error when
// the length of x is not rows × width, or when a row holds NaN or ±Inf (the accumulator is
// then left unchanged by the offending chunk, but earlier chunks of the same call are kept).
func (c *Covariance) Add(x []float32, rows int) error {
	if rows < 0 || len(x) != rows*c.width {
		return fmt.Errorf("spectra: %d activations for %d rows of width %d", len(x), rows, c.width)
	}
	for r0 := 0; r0 < rows; r0 += c.opts.ChunkRows {
		r1 := min(r0+c.opts.ChunkRows, rows)
		if err := c.addChunk(x, nil, r0, r1); err != nil {
			return err
		}
	}
	return nil
}

// AddMasked accumulates the rows of x for which mask is true: x is [len(mask), width]
// row-major, e.g. a [batch, pos, d_mlp] activation with its [batch, pos] attention mask
// (padding positions are false). Errors as for Add.
func (c *Covariance) AddMasked(x []float32, mask []bool) error {
	if len(x) != len(mask)*c.width {
		return fmt.Errorf("spectra: %d activations for %d masked rows of width %d", len(x), len(mask), c.width)
	}
	idx := make([]int, 0, len(mask))
	for r, keep := range mask {
		if keep {
			idx = append(idx, r)
		}
	}
	for r0 := 0; r0 < len(idx); r0 += c.opts.ChunkRows {
		r1 := min(r0+c.opts.ChunkRows, len(idx))
		if err := c.addChunk(x, idx, r0, r1); err != nil {
			return err
		}
	}
	return nil
}

// addChunk merges rows r0..r1 of x (through idx when not nil) as one batch.
func (c *Covariance) addChunk(x []float32, idx []int, r0, r1 int) error {
	k, w := r1-r0, c.width
	if k == 0 {
		return nil
	}
	row := func(r int) []float32 {
		if idx != nil {
			r = idx[r]
		}
		return x[r*w : (r+1)*w]
	}
	if c.bmean == nil {
		c.bmean, c.delta = make([]float64, w), make([]float64, w)
	}
	// Chunk mean of x − K, columns split across goroutines; a NaN or ±Inf makes its column
	// sum non-finite (float32 values cannot overflow a float64 sum of ChunkRows terms). The
	// first chunk sets K to its own mean.
	first := c.n == 0
	bad := make([]bool, w)
	linalg.Parallel(w, 256, func(lo, hi int) {
		acc, shift := c.bmean[lo:hi], c.shift[lo:hi]
		for pass := 0; pass < 2; pass++ {
			clear(acc)
			for r := r0; r < r1; r++ {
				for j, v := range row(r)[lo:hi] {
					acc[j] += float64(v) - shift[j]
				}
			}
			for j := range acc {
				acc[j] /= float64(k)
			}
			if !first || pass == 1 {
				break
			}
			copy(shift, acc) // first chunk: K = its mean, then the mean of x − K (≈ 0)
		}
		for j := range acc {
			if math.IsNaN(acc[j]) || math.IsInf(acc[j], 0) {
				bad[lo+j] = true
			}
		}
	})
	if j := slices.Index(bad, true); j >= 0 {
		if first {
			clear(c.shift)
		}
		return fmt.Errorf("spectra: non-finite activation in column %d of a batch", j)
	}
	// Centre the chunk and add its scatter to M2 (upper triangle).
	if c.opts.Float32Products {
		buf, strip := getScratch[float32](&scratch32, k*w), getScratch[float32](&scratch32, min(kernels.Tile, w)*w)
		defer scratch32.Put(buf)
		defer scratch32.Put(strip)
		centred := *buf
		centre(centred, w, r0, r1, row, c.shift, c.bmean)
		kernels.SyrkUpper32(c.m2, k, centred, w, *strip)
	} else {
		buf := getScratch[float64](&scratch64, k*w)
		defer scratch64.Put(buf)
		centred := *buf
		centre(centred, w, r0, r1, row, c.shift, c.bmean)
		kernels.SyrkUpper(c.m2, k, centred, w)
	}
	c.mergeMoments(int64(k), c.bmean, c.shift)
	return nil
}

// centre writes rows r0..r1 of the chunk, centred as x − K − m_b, to dst ([r1−r0, w]).
func centre[T float32 | float64](dst []T, w, r0, r1 int, row func(int) []float32, shift, mean []float64) {
	linalg.Parallel(r1-r0, 16, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			d := dst[r*w : (r+1)*w]
			for j, v := range row(r0 + r) {
				d[j] = T(float64(v) - shift[j] - mean[j])
			}
		}
	})
}

// mergeMoments folds a batch of nb rows with mean mb (of x − shift), whose scatter has
// already been added to c.m2, into the running state (Chan, Golub & LeVeque 1979):
//
//	n = na + nb, δ = mb − ma, mean = ma + δ·nb/n, M2 = M2a + M2b + δδᵀ·na·nb/n.
//
// The means are taken relative to c.shift: δ = (shiftb − K) + (mb − ma).
func (c *Covariance) mergeMoments(nb int64, mb, shiftb []float64) {
	na := c.n
	n := na + nb
	w := c.width
	for j := range w {
		c.delta[j] = (shiftb[j] - c.shift[j]) + (mb[j] - c.mean[j])
	}
	if na > 0 {
		f := float64(na) * float64(nb) / float64(n)
		c.m2.Rows(func(i int, row []float64) {
			di := f * c.delta[i]
			for j, dj := range c.delta[i:w] {
				row[j] += di * dj
			}
		})
	}
	g := float64(nb) / float64(n)
	for j := range w {
		c.mean[j] += c.delta[j] * g
	}
	c.n = n
}

// Merge adds the rows accumulated by o to c, as if every row given to o had been given to c:
// afterwards c.N() = c.N()+o.N(), and the mean and scatter are those of the union of both
// row sets (Chan's pairwise formula, the same update Add uses for each chunk). The result does
// not depend on how the rows were split between accumulators or batches except through
// float64 rounding (relative differences of order 1e-15·√(number of merges)), so partial
// accumulators from several workers or files can be merged in any order. o is not modified.
// It returns an error when the widths differ.
func (c *Covariance) Merge(o *Covariance) error {
	if o.width != c.width {
		return fmt.Errorf("spectra: cannot merge a covariance of width %d into one of width %d", o.width, c.width)
	}
	if o.n == 0 {
		return nil
	}
	if c.n == 0 {
		c.n = o.n
		copy(c.shift, o.shift)
		copy(c.mean, o.mean)
		copy(c.m2.Data, o.m2.Data)
		return nil
	}
	if c.delta == nil {
		c.bmean, c.delta = make([]float64, c.width), make([]float64, c.width)
	}
	c.m2.Rows(func(i int, row []float64) {
		for j, v := range o.m2.Row(i) {
			row[j] += v
		}
	})
	c.mergeMoments(o.n, o.mean, o.shift)
	return nil
}

// Mean writes the column means to dst (allocated when nil) and returns it.
func (c *Covariance) Mean(dst []float64) []float64 {
	if dst == nil {
		dst = make([]float64, c.width)
	}
	for j, m := range c.mean {
		dst[j] = c.shift[j] + m
	}
	return dst
}

// Scatter writes the full symmetric scatter matrix M2 = Σ (x−μ)(x−μ)ᵀ, [width, width]
// row-major, to dst (allocated when nil) and returns it.
func (c *Covariance) Scatter(dst []float64) []float64 {
	return c.scaled(dst, 1)
}

// Matrix writes the covariance NerVE uses, Σ = M2/(N−1+1e-12) (the unbiased estimator, with
// NerVE's guard in the denominator), [width, width] row-major, to dst (allocated when nil)
// and returns it.
func (c *Covariance) Matrix(dst []float64) []float64 {
	return c.scaled(dst, 1/(float64(c.n)-1+Eps))
}

func (c *Covariance) scaled(dst []float64, s float64) []float64 { return c.m2.Dense(dst, s) }

// Eigenvalues returns the eigenvalues of the covariance Matrix in descending order, as
// computed (not clamped; see Spectrum), written to dst (allocated when nil or short). It
// returns an error for an empty accumulator.
func (c *Covariance) Eigenvalues(dst []float64) ([]float64, error) {
	if c.n == 0 {
		return nil, errors.New("spectra: eigenvalues of an empty covariance (no rows were added)")
	}
	vals, err := kernels.EigvalsSym(dst, c.m2, 1/(float64(c.n)-1+Eps))
	if err != nil {
		return nil, fmt.Errorf("spectra: %v", err)
	}
	slices.Reverse(vals)
	return vals, nil
}

// covMagic starts a marshalled Covariance (version 1).
const covMagic = "neuronscope.covariance.v1\x00"

// MarshalBinary encodes the accumulator (width, N, the reference K, the mean of x − K and
// the upper triangle of M2, as little-endian float64) so that partial accumulators can be stored and merged later.
func (c *Covariance) MarshalBinary() ([]byte, error) {
	w := c.width
	buf := make([]byte, 0, len(covMagic)+16+8*(2*w+w*(w+1)/2))
	buf = append(buf, covMagic...)
	buf = binary.LittleEndian.AppendUint64(buf, uint64(w))
	buf = binary.LittleEndian.AppendUint64(buf, uint64(c.n))
	for _, v := range append(append([]float64(nil), c.shift...), c.mean...) {
		buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(v))
	}
	for i := range w {
		for _, v := range c.m2.Row(i) {
			buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(v))
		}
	}
	return buf, nil
}

// UnmarshalBinary restores an accumulator written by MarshalBinary, replacing c's state (and
// width); the options of c are kept. It returns an error for data that is not a complete
// covariance record.
func (c *Covariance) UnmarshalBinary(data []byte) error {
	if len(data) < len(covMagic)+16 || string(data[:len(covMagic)]) != covMagic {
		return errors.New("spectra: not a neuronscope covariance record")
	}
	p := data[len(covMagic):]
	w64, n := binary.LittleEndian.Uint64(p), int64(binary.LittleEndian.Uint64(p[8:]))
	p = p[16:]
	if w64 == 0 || w64 > 1<<20 || n < 0 {
		return fmt.Errorf("spectra: covariance record has width %d and %d rows", w64, n)
	}
	w := int(w64)
	if want := 8 * (2*w + w*(w+1)/2); len(p) != want {
		return fmt.Errorf("spectra: covariance record of width %d has %d bytes of data, want %d", w, len(p), want)
	}
	next := func() float64 {
		v := math.Float64frombits(binary.LittleEndian.Uint64(p))
		p = p[8:]
		return v
	}
	opts := c.opts
	*c = *NewCovariance(w, opts)
	c.n = n
	for j := range w {
		c.shift[j] = next()
	}
	for j := range w {
		c.mean[j] = next()
	}
	for i := range w {
		row := c.m2.Row(i)
		for j := range row {
			row[j] = next()
		}
	}
	return nil
}
