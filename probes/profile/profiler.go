package profile

import (
	"fmt"
	"math"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model/corpus"
)

// Options configure a Profiler. Zero fields take the defaults in brackets (Before and After
// together: both zero means 15 and 4).
type Options struct {
	TopK         int    `json:"top_k"`          // top-k maximum and top-k minimum contexts per neuron [20]
	QuantileBins int    `json:"quantile_bins"`  // quantile bins of per-context maxima [5]
	PerBin       int    `json:"per_bin"`        // reservoir samples per quantile bin [5]
	RandomSample int    `json:"random_sample"`  // uniformly random contexts per neuron [20]
	HistBins     int    `json:"hist_bins"`      // histogram bins (even) [32]
	Before       int    `json:"window_before"`  // tokens kept before the max token in an example window [15]
	After        int    `json:"window_after"`   // tokens kept after it [4]
	CalibContext int    `json:"calib_contexts"` // contexts whose maxima fix the quantile boundaries [256]
	Seed         uint64 `json:"seed"`           // reservoir seed [0]
	// IncludeBOS counts the BOS positions of each context (Context.BOS) in every statistic
	// and example list; by default [false] they are left out, as SNMF and most profilers do.
	IncludeBOS bool `json:"include_bos"`
}

// Defaults fills zero fields.
func (o Options) Defaults() Options {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.TopK, 20)
	def(&o.QuantileBins, 5)
	def(&o.PerBin, 5)
	def(&o.RandomSample, 20)
	def(&o.HistBins, 32)
	if o.HistBins%2 == 1 {
		o.HistBins++
	}
	if o.Before <= 0 && o.After <= 0 {
		o.Before, o.After = 15, 4
	}
	o.Before, o.After = max(o.Before, 0), max(o.After, 0)
	def(&o.CalibContext, 256)
	return o
}

// Context describes one row of a batch: its real tokens IDs (the rest of the row is padding),
// taken from document Doc starting at document position Start; Index is the context's ordinal
// in the whole run (the tie-break of example lists). It is corpus.Context, which cuts them.
type Context = corpus.Context

// Layer is the state of one hook point: per-neuron statistics and example storage in flat
// arrays (neuron-major). Fields are exported for checkpoints only.
type Layer struct {
	Hook  string
	Layer int
	N     int // neurons

	Count               int64 // observations per neuron (real tokens)
	Mean, M2, M3, M4    []float64
	Pos, Nonzero        []int64
	Max, Min            []float32
	HistW               []float64
	HistOff             []int64
	Hist                []int64   // [N, HistBins]
	CalibN              int64     // contexts in the calibration buffer
	Calib               []float32 // [N, CalibContext] per-context maxima, until calibrated
	Calibrated          bool
	QB                  []float32 // [N, QuantileBins-1] quantile boundaries
	Seen                []int64   // [N, QuantileBins+1] contexts offered to each bin reservoir, last = random
	BinKey              []int64   // [N, QuantileBins, PerBin] priority keys of the bin samples (uint64 bits)
	HeapN               []int32   // [N, 2] sizes of the max and min heaps
	HeapKey             []float32 // [N, 2K]
	HeapCtx             []int64   // [N, 2K]
	HeapSlot            []int32   // [N, 2K]
	SlotVal             []float32 // [N, S] the example's max (min for the min list) activation
	SlotCtx, SlotDoc    []int64   // [N, S]
	SlotPos             []int32   // [N, S] document position of the max token
	SlotMaxIdx, SlotLen []int16   // [N, S] index of the max token in the window, window length
	Tok                 []int32   // [N, S, W]
	Act                 []float32 // [N, S, W]

	thr []float32 // [N, 2] entry thresholds of the max and min lists (see thresholds)
}

// Profiler keeps streaming statistics of every neuron of every observed hook point.
type Profiler struct {
	Opt      Options
	Layers   []*Layer
	Tokens   int64 // real tokens observed (per hook point), BOS positions included
	Contexts int64
	Batches  int64
	// BOSExcluded counts the BOS positions left out of the statistics (0 with IncludeBOS).
	BOSExcluded int64
	// BinFrom is the first context index a shard seeded with NewShard may observe (0: any).
	BinFrom int64
	byHook  map[string]*Layer

	saveBuf  []byte       // SaveAsync's encoding buffer, reused
	saveWait func() error // waits for SaveAsync's write in flight
}

// New returns an empty profiler.
func New(opt Options) *Profiler {
	return &Profiler{Opt: opt.Defaults(), byHook: map[string]*Layer{}}
}

func (p *Profiler) window() int { return p.Opt.Before + 1 + p.Opt.After }
func (p *Profiler) slots() int {
	o := p.Opt
	return 2*o.TopK + o.QuantileBins*o.PerBin + o.RandomSample
}

func (p *Profiler) layer(hook string, layer, n int) (*Layer, error) {
	if p.byHook == nil {
		p.byHook = map[string]*Layer{}
		for _, l := range p.Layers {
			p.byHook[l.Hook] = l
		}
	}
	if l := p.byHook[hook]; l != nil {
		if l.N != n {
			return nil, fmt.Errorf("profile: %s has %d neurons, the state has %d", hook, n, l.N)
		}
		return l, nil
	}
	o, s, w := p.Opt, p.slots(), p.window()
	l := &Layer{Hook: hook, Layer: layer, N: n,
		Mean: make([]float64, n), M2: make([]float64, n), M3: make([]float64, n), M4: make([]float64, n),
		Pos: make([]int64, n), Nonzero: make([]int64, n), Max: make([]float32, n), Min: make([]float32, n),
		HistW: make([]float64, n), HistOff: make([]int64, n), Hist: make([]int64, n*o.HistBins),
		Calib: make([]float32, n*o.CalibContext), QB: make([]float32, n*(o.QuantileBins-1)),
		Seen: make([]int64, n*(o.QuantileBins+1)), BinKey: make([]int64, n*o.QuantileBins*o.PerBin), HeapN: make([]int32, 2*n),
		HeapKey: make([]float32, n*2*o.TopK), HeapCtx: make([]int64, n*2*o.TopK), HeapSlot: make([]int32, n*2*o.TopK),
		SlotVal: make([]float32, n*s), SlotCtx: make([]int64, n*s), SlotDoc: make([]int64, n*s),
		SlotPos: make([]int32, n*s), SlotMaxIdx: make([]int16, n*s), SlotLen: make([]int16, n*s),
		Tok: make([]int32, n*s*w), Act: make([]float32, n*s*w)}
	for j := range n {
		l.Max[j], l.Min[j] = float32(math.Inf(-1)), float32(math.Inf(1))
	}
	p.Layers = append(p.Layers, l)
	p.byHook[hook] = l
	return l, nil
}

// chunk is the number of neurons one worker handles at a time.
const chunk = 64

// Observe adds one batch of activations of a hook point: acts is [len(rows), t, n] row-major
// (t positions per row, of which the first len(rows[r].IDs) are real). Call it once per hook
// point per batch, then EndBatch.
func (p *Profiler) Observe(point hooks.Point, acts []float32, rows []Context, t, n int) error {
	return p.ObserveUnits(point.String(), point.Layer, acts, rows, t, n)
}

// ObserveUnits is Observe for units that are not a hook point's own entries but derived from
// one (Units: SNMF features, SAE latents), named by hook (e.g.
// "blocks.2.mlp.hook_post.sae.hook_sae_acts_post") in layer.
func (p *Profiler) ObserveUnits(hook string, layer int, acts []float32, rows []Context, t, n int) error {
	if len(acts) != len(rows)*t*n {
		return fmt.Errorf("profile: %s: %d activations for %d rows × %d positions × %d neurons", hook, len(acts), len(rows), t, n)
	}
	for _, r := range rows {
		if r.Index < p.BinFrom {
			return fmt.Errorf("profile: context %d is in the calibration prefix [0, %d), which this shard does not observe", r.Index, p.BinFrom)
		}
	}
	l, err := p.layer(hook, layer, n)
	if err != nil {
		return err
	}
	if l.thr == nil {
		l.thresholds(p.Opt.TopK)
	}
	skip, calib := p.rowPlan(rows)
	var next atomic.Int64
	workers := min(runtime.GOMAXPROCS(0), (n+chunk-1)/chunk)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := newScratch(chunk, t)
			for {
				j0 := int(next.Add(chunk)) - chunk
				if j0 >= n {
					return
				}
				p.observeChunk(l, acts, rows, skip, calib, t, j0, min(j0+chunk, n), sc)
			}
		}()
	}
	wg.Wait()
	return nil
}

// rowPlan says, for each row, how many leading positions the statistics skip (its BOS
// positions, unless IncludeBOS) and the calibration slot it fills if it is counted at all (the
// number of counted rows before it in the batch; -1 for a row with no counted position).
func (p *Profiler) rowPlan(rows []Context) (skip, calib []int) {
	skip, calib = make([]int, len(rows)), make([]int, len(rows))
	k := 0
	for r, row := range rows {
		if !p.Opt.IncludeBOS {
			skip[r] = min(max(row.BOS, 0), len(row.IDs))
		}
		calib[r] = -1
		if len(row.IDs) > skip[r] {
			calib[r] = k
			k++
		}
	}
	return skip, calib
}

type scratch struct {
	shift, s1, s2, s3, s4 []float64
	bmax, bmin            []float32
	tile                  []float32 // [chunk, t]: one row's activations, neuron-major
}

func newScratch(c, t int) *scratch {
	f := func() []float64 { return make([]float64, c) }
	return &scratch{shift: f(), s1: f(), s2: f(), s3: f(), s4: f(),
		bmax: make([]float32, c), bmin: make([]float32, c), tile: make([]float32, c*t)}
}

// observeChunk processes neurons [j0, j1) of a batch. Each row (context) of the chunk is first
// transposed into a neuron-major tile, so that every neuron's positions are contiguous: the
// per-activation work (power sums, signs, extremes, histogram) then runs on registers, and the
// example windows are contiguous copies. The batch's moments are accumulated as power sums of
// d = x − K, with K the running mean (for a neuron's first batch, its first activation), which
// keeps cancellation small; they are turned into central moments at the end of the batch and
// merged into the running state.
func (p *Profiler) observeChunk(l *Layer, acts []float32, rows []Context, skip, calib []int, t, j0, j1 int, sc *scratch) {
	n, c := l.N, j1-j0
	o := p.Opt
	hb := o.HistBins
	shift, s1, s2, s3, s4 := sc.shift[:c], sc.s1[:c], sc.s2[:c], sc.s3[:c], sc.s4[:c]
	bmax, bmin := sc.bmax[:c], sc.bmin[:c]
	pc, nz := l.Pos[j0:j1], l.Nonzero[j0:j1]
	hw, hoff := l.HistW[j0:j1], l.HistOff[j0:j1]
	hist := l.Hist[j0*hb : j1*hb]
	first := true // no real row seen yet in this batch
	var cnt int64
	for r, row := range rows {
		L, s0 := len(row.IDs), skip[r]
		if L == s0 {
			continue
		}
		tile := sc.tile[:c*L]
		transpose(tile, acts[r*t*n+j0:], L, c, n)
		if first {
			first = false
			for k := range c {
				xs := tile[k*L+s0 : (k+1)*L]
				s1[k], s2[k], s3[k], s4[k] = 0, 0, 0, 0
				bmax[k], bmin[k] = float32(math.Inf(-1)), float32(math.Inf(1))
				if l.Count > 0 {
					shift[k] = l.Mean[j0+k]
				} else {
					shift[k] = float64(xs[0])
				}
				if hw[k] == 0 {
					// first batch: the width from the first row's range (the grid adapts later)
					lo, hi := float64(xs[0]), float64(xs[0])
					for _, v := range xs {
						lo, hi = math.Min(lo, float64(v)), math.Max(hi, float64(v))
					}
					hw[k] = histInitWidth(lo, hi, hb)
					hoff[k] = int64(math.Floor(lo / hw[k]))
				}
			}
		}
		for k := range c {
			all := tile[k*L : (k+1)*L]
			xs := all[s0:] // the counted positions
			h := hist[k*hb : (k+1)*hb]
			sh := shift[k]
			inv, off := 1/hw[k], hoff[k] // inv is exact: the width is a power of two
			var acc rowAcc
			acc.rmax, acc.rmin = float32(math.Inf(-1)), float32(math.Inf(1))
			for i := 0; ; i++ {
				i += acc.scan(xs[i:], sh, inv, off, h)
				if i >= len(xs) {
					break
				}
				// xs[i] is outside the histogram's window: rearrange the grid, count it
				v := xs[i]
				h[histFit(h, &hw[k], &hoff[k], float64(v))]++
				inv, off = 1/hw[k], hoff[k]
				acc.add(v, sh)
			}
			a1, a2, a3, a4, np, nn, rmax, rmin := acc.a1, acc.a2, acc.a3, acc.a4, acc.np, acc.nn, acc.rmax, acc.rmin
			s1[k] += a1
			s2[k] += a2
			s3[k] += a3
			s4[k] += a4
			pc[k] += np
			nz[k] += nn
			bmax[k] = max(bmax[k], rmax)
			bmin[k] = min(bmin[k], rmin)
			p.offerRow(l, j0+k, all, s0, calib[r], row, rmax, rmin)
		}
		cnt += int64(L - s0)
	}
	if first {
		return
	}
	fc := float64(cnt)
	for k := range c {
		j := j0 + k
		a1 := s1[k] / fc
		mean := shift[k] + a1
		m2 := s2[k] - s1[k]*a1
		m3 := s3[k] - 3*a1*s2[k] + 2*a1*a1*s1[k]
		m4 := s4[k] - 4*a1*s3[k] + 6*a1*a1*s2[k] - 3*a1*a1*a1*s1[k]
		_, l.Mean[j], l.M2[j], l.M3[j], l.M4[j] = mergeMoments(l.Count, l.Mean[j], l.M2[j], l.M3[j], l.M4[j], cnt, mean, max(m2, 0), m3, max(m4, 0))
		l.Max[j] = max(l.Max[j], bmax[k])
		l.Min[j] = min(l.Min[j], bmin[k])
	}
}

// offerRow offers one context (whose activations of neuron j are xs, of which xs[skip:] are
// counted and have maximum vmax and minimum vmin) of neuron j to the example lists; calib is
// its calibration slot in the batch. An example's max token is a counted position; its window
// shows the skipped positions too.
func (p *Profiler) offerRow(l *Layer, j int, xs []float32, skip, calib int, row Context, vmax, vmin float32) {
	o := &p.Opt
	K, S := o.TopK, 2*o.TopK+o.QuantileBins*o.PerBin+o.RandomSample
	hk := j * 2 * K
	// cheap threshold checks first: a full list's root is its worst entry, and nothing below
	// it can enter (equal keys go to the full check, for the context tie-break)
	if !(vmax < l.thr[2*j]) {
		hmax := topHeap{key: l.HeapKey[hk : hk+K], ctx: l.HeapCtx[hk : hk+K], slot: l.HeapSlot[hk : hk+K], n: &l.HeapN[2*j]}
		if s := hmax.offer(vmax, row.Index); s >= 0 {
			p.store(l, j*S+int(s), xs, row, vmax, skip+argFirst(xs[skip:], vmax))
		}
		if l.HeapN[2*j] == int32(K) {
			l.thr[2*j] = l.HeapKey[hk]
		}
	}
	if !(-vmin < l.thr[2*j+1]) {
		hmin := topHeap{key: l.HeapKey[hk+K : hk+2*K], ctx: l.HeapCtx[hk+K : hk+2*K], slot: l.HeapSlot[hk+K : hk+2*K], n: &l.HeapN[2*j+1]}
		if s := hmin.offer(-vmin, row.Index); s >= 0 {
			p.store(l, j*S+K+int(s), xs, row, vmin, skip+argFirst(xs[skip:], vmin))
		}
		if l.HeapN[2*j+1] == int32(K) {
			l.thr[2*j+1] = l.HeapKey[hk+K]
		}
	}
	qb := o.QuantileBins
	seen := l.Seen[j*(qb+1) : (j+1)*(qb+1)]
	stream := uint64(l.Layer)<<40 ^ uint64(j)<<8
	if l.Calibrated {
		bounds := l.QB[j*(qb-1) : (j+1)*(qb-1)]
		q := 0
		for q < len(bounds) && vmax >= bounds[q] {
			q++
		}
		first := (j*qb + q) * o.PerBin
		keys := l.BinKey[first : first+o.PerBin]
		if s := binSlot(keys, l.SlotCtx[j*S+2*K+q*o.PerBin:][:o.PerBin], seen[q], binKey(o.Seed, stream|uint64(q), row.Index), row.Index); s >= 0 {
			p.store(l, j*S+2*K+q*o.PerBin+s, xs, row, vmax, skip+argFirst(xs[skip:], vmax))
		}
		seen[q]++
	} else if i := l.CalibN + int64(calib); i < int64(o.CalibContext) {
		l.Calib[j*o.CalibContext+int(i)] = vmax
	}
	if s := reservoirSlot(o.Seed, stream|0xff, row.Index, o.RandomSample); s >= 0 {
		p.store(l, j*S+2*K+qb*o.PerBin+s, xs, row, vmax, skip+argFirst(xs[skip:], vmax))
	}
	seen[qb]++
}

// store writes the window of context row (whose activations of the neuron are xs) around
// position at into slot s.
func (p *Profiler) store(l *Layer, s int, xs []float32, row Context, v float32, at int) {
	w := p.window()
	lo := max(0, at-p.Opt.Before)
	hi := min(len(row.IDs), at+p.Opt.After+1)
	tok, act := l.Tok[s*w:(s+1)*w], l.Act[s*w:(s+1)*w]
	for i, id := range row.IDs[lo:hi] {
		tok[i] = int32(id)
	}
	copy(act, xs[lo:hi])
	l.SlotVal[s], l.SlotCtx[s], l.SlotDoc[s] = v, row.Index, row.Doc
	l.SlotPos[s] = int32(row.Start + at)
	l.SlotMaxIdx[s], l.SlotLen[s] = int16(at-lo), int16(hi-lo)
}

// rowAcc accumulates one neuron's activations over one row: the power sums of d = x − shift,
// the counts of x > 0 and x ≠ 0, the maximum and the minimum.
type rowAcc struct {
	a1, a2, a3, a4 float64
	np, nn         int64
	rmax, rmin     float32
}

// scan accumulates xs into a and counts each value into the histogram h (bin ⌊x·inv⌋ − off),
// stopping before the first value outside h; it returns the number of values done. It calls
// nothing, so that its state stays in registers.
func (a *rowAcc) scan(xs []float32, shift, inv float64, off int64, h []int64) int {
	a1, a2, a3, a4 := a.a1, a.a2, a.a3, a.a4
	np, nn := a.np, a.nn
	rmax, rmin := a.rmax, a.rmin
	nb := uint64(len(h))
	i := 0
	for ; i < len(xs); i++ {
		v := xs[i]
		y := float64(v) * inv
		// ⌊y⌋ without math.Floor's call on CPUs without SSE4.1: truncate, then step down for
		// negative non-integers (|y| ≥ 2⁶³ and NaN convert as int64(math.Floor(y)) does)
		b := int64(y)
		b -= b2i(float64(b) > y) + off // branch-free: half the values are negative
		if uint64(b) >= nb {
			break
		}
		h[b]++
		d := float64(v) - shift
		d2 := d * d
		a1 += d
		a2 += d2
		a3 += d2 * d
		a4 += d2 * d2
		np += b2i(v > 0) // branch-free: signs are unpredictable
		nn += b2i(v != 0)
		if v > rmax {
			rmax = v
		}
		if v < rmin {
			rmin = v
		}
	}
	a.a1, a.a2, a.a3, a.a4 = a1, a2, a3, a4
	a.np, a.nn = np, nn
	a.rmax, a.rmin = rmax, rmin
	return i
}

// add accumulates one value (without the histogram).
func (a *rowAcc) add(v float32, shift float64) {
	d := float64(v) - shift
	d2 := d * d
	a.a1 += d
	a.a2 += d2
	a.a3 += d2 * d
	a.a4 += d2 * d2
	if v > 0 {
		a.np++
	}
	if v != 0 {
		a.nn++
	}
	if v > a.rmax {
		a.rmax = v
	}
	if v < a.rmin {
		a.rmin = v
	}
}

// transpose writes the [rows, cols] block of src (row stride ld) into dst as [cols, rows],
// in 8×8 tiles so that both the reads and the writes stay on a few cache lines at a time.
func transpose(dst, src []float32, rows, cols, ld int) {
	const b = 8
	for r0 := 0; r0 < rows; r0 += b {
		r1 := min(r0+b, rows)
		for c0 := 0; c0 < cols; c0 += b {
			c1 := min(c0+b, cols)
			if c1-c0 == b && r1-r0 == b {
				for r := r0; r < r1; r++ {
					x := src[r*ld+c0 : r*ld+c0+b : r*ld+c0+b]
					dst[(c0+0)*rows+r] = x[0]
					dst[(c0+1)*rows+r] = x[1]
					dst[(c0+2)*rows+r] = x[2]
					dst[(c0+3)*rows+r] = x[3]
					dst[(c0+4)*rows+r] = x[4]
					dst[(c0+5)*rows+r] = x[5]
					dst[(c0+6)*rows+r] = x[6]
					dst[(c0+7)*rows+r] = x[7]
				}
				continue
			}
			for r := r0; r < r1; r++ {
				for c := c0; c < c1; c++ {
					dst[c*rows+r] = src[r*ld+c]
				}
			}
		}
	}
}

// b2i is 1 for true and 0 for false (compiled branch-free).
func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// argFirst is the index of the first element of xs equal to v (0 if none): the position of a
// row's maximum or minimum, found only for the rows that are stored.
func argFirst(xs []float32, v float32) int {
	for i, x := range xs {
		if x == v {
			return i
		}
	}
	return 0
}

// thresholds (re)builds the entry thresholds of the top-k lists: a full list's root key (its
// worst), −Inf for a list that is not full. They are derived state, not checkpointed.
func (l *Layer) thresholds(k int) {
	l.thr = make([]float32, 2*l.N)
	for i := range l.thr {
		l.thr[i] = float32(math.Inf(-1))
		if l.HeapN[i] == int32(k) {
			l.thr[i] = l.HeapKey[(i/2)*2*k+(i%2)*k]
		}
	}
}

// EndBatch closes a batch of rows contexts holding tokens real tokens: it advances the counts
// (every neuron's count by the counted positions: BOS positions excluded unless IncludeBOS)
// and, once CalibContext counted contexts have been seen, fixes the quantile boundaries.
func (p *Profiler) EndBatch(rows []Context) {
	skip, calib := p.rowPlan(rows)
	var tokens, skipped, counted int64
	for r, row := range rows {
		tokens += int64(len(row.IDs))
		skipped += int64(skip[r])
		if calib[r] >= 0 {
			counted++
		}
	}
	p.Tokens += tokens
	p.BOSExcluded += skipped
	p.Contexts += int64(len(rows))
	p.Batches++
	for _, l := range p.Layers {
		l.Count += tokens - skipped
		if !l.Calibrated {
			l.CalibN = min(l.CalibN+counted, int64(p.Opt.CalibContext))
			if l.CalibN >= int64(p.Opt.CalibContext) {
				p.calibrate(l)
			}
		}
	}
}

// calibrate sets the quantile boundaries of every neuron from the calibration maxima: with
// m sorted maxima and Q bins, boundary i (1 ≤ i < Q) is the maximum of rank ⌊i·m/Q⌋.
func (p *Profiler) calibrate(l *Layer) {
	qb, cc := p.Opt.QuantileBins, p.Opt.CalibContext
	m := int(l.CalibN)
	buf := make([]float32, m)
	for j := range l.N {
		copy(buf, l.Calib[j*cc:j*cc+m])
		sort.Slice(buf, func(a, b int) bool { return buf[a] < buf[b] })
		for i := 1; i < qb; i++ {
			if m > 0 {
				l.QB[j*(qb-1)+i-1] = buf[min(i*m/qb, m-1)]
			}
		}
	}
	l.Calibrated = true
	l.Calib = nil
}

// Finish calibrates hook points whose run ended before CalibContext contexts (their quantile
// samples stay empty, since no context was offered after calibration).
func (p *Profiler) Finish() {
	for _, l := range p.Layers {
		if !l.Calibrated {
			p.calibrate(l)
		}
	}
}
