package profile

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"math"
	"slices"
)

// Calibration is what every shard of a split run shares with the shard that saw the
// calibration prefix: per hook point, each neuron's quantile boundaries and histogram width,
// and the first context index that is binned (see the package doc, "Shards and merging").
type Calibration struct {
	Opt     Options
	BinFrom int64 // contexts with a smaller index are not offered to the quantile bins
	Layers  []CalibratedLayer
}

// CalibratedLayer is one hook point's share of a Calibration.
type CalibratedLayer struct {
	Hook     string
	Layer, N int
	QB       []float32 // [N, QuantileBins-1]
	HistW    []float64 // [N] histogram bin widths (powers of two)
}

// CalibrationPrefix is the number of contexts of the calibration shard for batches of batch
// contexts: the CalibContext contexts whose maxima fix the boundaries, rounded up to whole
// batches (a single-process run calibrates at the end of the batch that completes them, so the
// rest of that batch is not binned either).
func (o Options) CalibrationPrefix(batch int) int64 {
	o = o.Defaults()
	b := int64(max(batch, 1))
	return (int64(o.CalibContext) + b - 1) / b * b
}

// Calibration returns the calibration a shard seeds from: p must have observed exactly the
// calibration prefix (contexts [0, binFrom)) and be calibrated. For a run shorter than the
// prefix there is nothing to seed: call Finish and use p alone.
func (p *Profiler) Calibration(binFrom int64) (*Calibration, error) {
	if p.Contexts != binFrom {
		return nil, fmt.Errorf("profile: the calibration shard saw %d contexts, the calibration prefix has %d", p.Contexts, binFrom)
	}
	c := &Calibration{Opt: p.Opt, BinFrom: binFrom}
	for _, l := range p.Layers {
		if !l.Calibrated {
			return nil, fmt.Errorf("profile: %s is not calibrated after %d contexts", l.Hook, p.Contexts)
		}
		c.Layers = append(c.Layers, CalibratedLayer{Hook: l.Hook, Layer: l.Layer, N: l.N,
			QB: slices.Clone(l.QB), HistW: slices.Clone(l.HistW)})
	}
	return c, nil
}

// NewShard returns an empty profiler for contexts after the calibration prefix, seeded with
// cal: its hook points exist, are calibrated with cal's boundaries, and their histograms start
// at cal's widths, so that merging it into the calibration shard's state gives what one
// process observing every context in index order gives (see Merge). Observing a context whose
// index is below cal.BinFrom is an error.
func NewShard(cal *Calibration) *Profiler {
	p := New(cal.Opt)
	p.BinFrom = cal.BinFrom
	for _, c := range cal.Layers {
		l, _ := p.layer(c.Hook, c.Layer, c.N)
		copy(l.QB, c.QB)
		copy(l.HistW, c.HistW)
		l.Calib, l.Calibrated = nil, true
	}
	return p
}

// MarshalBinary encodes the calibration (gob).
func (c *Calibration) MarshalBinary() ([]byte, error) {
	type plain Calibration // without the methods, so gob does not call MarshalBinary again
	var b bytes.Buffer
	err := gob.NewEncoder(&b).Encode((*plain)(c))
	return b.Bytes(), err
}

// UnmarshalBinary decodes what MarshalBinary wrote.
func (c *Calibration) UnmarshalBinary(b []byte) error {
	type plain Calibration
	return gob.NewDecoder(bytes.NewReader(b)).Decode((*plain)(c))
}

// Merge folds o, the state of other contexts of the same run, into p. Both must have the same
// options and hook points, and either p is the calibration shard and o a shard seeded from its
// calibration (NewShard), or both are seeded shards. The merge of every statistic:
//
//   - counts (tokens, contexts, batches, > 0, ≠ 0, bin counts): sums, exact;
//   - max, min: exact;
//   - moments: Chan/Pébay (Moments.Merge), equal to a single pass up to floating-point
//     reassociation (relative differences of ~1e-15 on the mean and variance);
//   - histograms: both grids are power-of-two multiples of the same starting width, anchored at
//     0; the finer is coarsened to the coarser, the counts added, and the width doubled while
//     the occupied bins span more than HistBins: the single pass's final grid and counts, exact;
//   - top-k max and min lists: the k best of the union under the lists' order (larger score,
//     then the earlier context), exact;
//   - quantile-bin samples: the PerBin contexts of smallest priority key of the union
//     (bottom-k), exact, since a context's key is a hash of its index;
//   - random sample: per slot, the context with the larger index (Algorithm R keeps the last
//     context drawn into each slot, and a context's slot is a hash of its index), exact.
//
// Merge is associative and commutative except for the moments' rounding. The error names the
// first inconsistency; p may then be partly merged.
func (p *Profiler) Merge(o *Profiler) error {
	if p.Opt != o.Opt {
		return fmt.Errorf("profile: shards with different options: %+v and %+v", p.Opt, o.Opt)
	}
	if len(p.Layers) == 0 {
		p.Layers, p.byHook = o.Layers, nil
		p.Tokens, p.Contexts, p.Batches, p.BinFrom, p.BOSExcluded = o.Tokens, o.Contexts, o.Batches, o.BinFrom, o.BOSExcluded
		return nil
	}
	if len(o.Layers) == 0 && o.Contexts == 0 {
		return nil
	}
	if len(p.Layers) != len(o.Layers) {
		return fmt.Errorf("profile: shards with different hook points (%d and %d)", len(p.Layers), len(o.Layers))
	}
	for i, l := range p.Layers {
		if m := o.Layers[i]; m.Hook != l.Hook || m.N != l.N || m.Layer != l.Layer {
			return fmt.Errorf("profile: shards with different hook points: %s [%d] and %s [%d]", l.Hook, l.N, m.Hook, m.N)
		}
	}
	for i, l := range p.Layers {
		if err := p.mergeLayer(l, o, o.Layers[i]); err != nil {
			return err
		}
	}
	p.Tokens += o.Tokens
	p.Contexts += o.Contexts
	p.Batches += o.Batches
	p.BOSExcluded += o.BOSExcluded
	p.BinFrom = max(p.BinFrom, o.BinFrom)
	return nil
}

func (p *Profiler) mergeLayer(l *Layer, o *Profiler, m *Layer) error {
	opt := p.Opt
	switch {
	case !m.Calibrated && m.Count > 0:
		return fmt.Errorf("profile: %s: the merged shard is not calibrated (only the first shard sees the calibration prefix)", l.Hook)
	case !l.Calibrated && l.Count > 0:
		return fmt.Errorf("profile: %s: the shard merged into is not calibrated (merge into the calibration shard's state once it is calibrated)", l.Hook)
	case !slices.Equal(l.QB, m.QB) && l.Count > 0 && m.Count > 0:
		return fmt.Errorf("profile: %s: shards calibrated differently (their quantile boundaries differ)", l.Hook)
	}
	if l.Count == 0 {
		copy(l.QB, m.QB)
		l.Calibrated, l.Calib, l.CalibN = m.Calibrated, m.Calib, m.CalibN
	}
	hb, qb := opt.HistBins, opt.QuantileBins
	for j := range l.N {
		_, l.Mean[j], l.M2[j], l.M3[j], l.M4[j] = mergeMoments(l.Count, l.Mean[j], l.M2[j], l.M3[j], l.M4[j],
			m.Count, m.Mean[j], m.M2[j], m.M3[j], m.M4[j])
		l.Pos[j] += m.Pos[j]
		l.Nonzero[j] += m.Nonzero[j]
		l.Max[j] = max(l.Max[j], m.Max[j])
		l.Min[j] = min(l.Min[j], m.Min[j])
		histMerge(l.Hist[j*hb:(j+1)*hb], &l.HistW[j], &l.HistOff[j], m.Hist[j*hb:(j+1)*hb], m.HistW[j], m.HistOff[j])
		p.mergeHeaps(l, m, j)
		p.mergeSamples(l, m, j)
		for q := range qb + 1 {
			l.Seen[j*(qb+1)+q] += m.Seen[j*(qb+1)+q]
		}
	}
	l.Count += m.Count
	l.thresholds(opt.TopK)
	return nil
}

// copySlot copies example slot ss of m into slot ds of l.
func (p *Profiler) copySlot(l *Layer, ds int, m *Layer, ss int) {
	w := p.window()
	copy(l.Tok[ds*w:(ds+1)*w], m.Tok[ss*w:(ss+1)*w])
	copy(l.Act[ds*w:(ds+1)*w], m.Act[ss*w:(ss+1)*w])
	l.SlotVal[ds], l.SlotCtx[ds], l.SlotDoc[ds] = m.SlotVal[ss], m.SlotCtx[ss], m.SlotDoc[ss]
	l.SlotPos[ds], l.SlotMaxIdx[ds], l.SlotLen[ds] = m.SlotPos[ss], m.SlotMaxIdx[ss], m.SlotLen[ss]
}

// mergeHeaps keeps neuron j's K best entries of the union of both layers' top-max and top-min
// lists. Surviving entries of l keep their slots; entries of m take the slots l's dropped (or
// unused) entries free.
func (p *Profiler) mergeHeaps(l, m *Layer, j int) {
	K, S := p.Opt.TopK, p.slots()
	type entry struct {
		key  float32
		ctx  int64
		slot int32
		own  bool // l's entry
	}
	for list := range 2 {
		hk := j*2*K + list*K
		ln, mn := int(l.HeapN[2*j+list]), int(m.HeapN[2*j+list])
		if mn == 0 {
			continue
		}
		all := make([]entry, 0, ln+mn)
		for i := range ln {
			all = append(all, entry{l.HeapKey[hk+i], l.HeapCtx[hk+i], l.HeapSlot[hk+i], true})
		}
		for i := range mn {
			all = append(all, entry{m.HeapKey[hk+i], m.HeapCtx[hk+i], m.HeapSlot[hk+i], false})
		}
		slices.SortFunc(all, func(a, b entry) int {
			if better(a.key, a.ctx, b.key, b.ctx) {
				return -1
			}
			if better(b.key, b.ctx, a.key, a.ctx) {
				return 1
			}
			return 0
		})
		keep := all[:min(K, len(all))]
		used := make([]bool, K)
		for _, e := range keep {
			if e.own {
				used[e.slot] = true
			}
		}
		free := 0
		for i, e := range keep {
			if !e.own {
				for used[free] {
					free++
				}
				used[free] = true
				p.copySlot(l, j*S+list*K+free, m, j*S+list*K+int(e.slot))
				e.slot = int32(free)
			}
			l.HeapKey[hk+i], l.HeapCtx[hk+i], l.HeapSlot[hk+i] = e.key, e.ctx, e.slot
		}
		l.HeapN[2*j+list] = int32(len(keep))
		h := topHeap{key: l.HeapKey[hk : hk+K], ctx: l.HeapCtx[hk : hk+K], slot: l.HeapSlot[hk : hk+K], n: &l.HeapN[2*j+list]}
		for i := len(keep)/2 - 1; i >= 0; i-- {
			h.down(i, len(keep))
		}
	}
}

// mergeSamples merges neuron j's quantile-bin samples (bottom-k by priority key) and random
// sample (per slot, the later context).
func (p *Profiler) mergeSamples(l, m *Layer, j int) {
	o := p.Opt
	K, S, qb, per := o.TopK, p.slots(), o.QuantileBins, o.PerBin
	type entry struct {
		key  uint64
		ctx  int64
		slot int
		own  bool
	}
	for q := range qb {
		ln, mn := min(l.Seen[j*(qb+1)+q], int64(per)), min(m.Seen[j*(qb+1)+q], int64(per))
		if mn == 0 {
			continue
		}
		base, kb := j*S+2*K+q*per, (j*qb+q)*per
		all := make([]entry, 0, ln+mn)
		for s := range int(ln) {
			all = append(all, entry{uint64(l.BinKey[kb+s]), l.SlotCtx[base+s], s, true})
		}
		for s := range int(mn) {
			all = append(all, entry{uint64(m.BinKey[kb+s]), m.SlotCtx[base+s], s, false})
		}
		slices.SortFunc(all, func(a, b entry) int {
			if binBefore(a.key, a.ctx, b.key, b.ctx) {
				return -1
			}
			if binBefore(b.key, b.ctx, a.key, a.ctx) {
				return 1
			}
			return 0
		})
		keep := all[:min(per, len(all))]
		// l's kept entries stay; m's kept entries fill the slots of l's dropped or unused ones
		used := make([]bool, per)
		for _, e := range keep {
			if e.own {
				used[e.slot] = true
			}
		}
		free := 0
		for _, e := range keep {
			if e.own {
				continue
			}
			for used[free] {
				free++
			}
			used[free] = true
			p.copySlot(l, base+free, m, base+e.slot)
			l.BinKey[kb+free] = int64(e.key)
		}
		// the filled slots must be the first min(seen, per): compact
		n := 0
		for s := range per {
			if used[s] {
				if s != n {
					p.copySlot(l, base+n, l, base+s)
					l.BinKey[kb+n] = l.BinKey[kb+s]
				}
				n++
			}
		}
	}
	base := j*S + 2*K + qb*per
	for s := range o.RandomSample {
		if m.SlotLen[base+s] > 0 && (l.SlotLen[base+s] == 0 || m.SlotCtx[base+s] > l.SlotCtx[base+s]) {
			p.copySlot(l, base+s, m, base+s)
		}
	}
}

// histMerge adds histogram (src, ws, offs) into (dst, *wd, *offd): both grids are powers of two
// anchored at 0 (a width of 0 is an empty histogram). The result is on the finest grid of at
// least both widths whose occupied bins fit len(dst) bins, starting at the lowest occupied bin.
func histMerge(dst []int64, wd *float64, offd *int64, src []int64, ws float64, offs int64) {
	if ws == 0 || !slices.ContainsFunc(src, func(v int64) bool { return v != 0 }) {
		if *wd == 0 {
			*wd = ws
		}
		return
	}
	if *wd == 0 || !slices.ContainsFunc(dst, func(v int64) bool { return v != 0 }) {
		w := max(*wd, ws)
		clear(dst)
		*wd, *offd = w, 0
		if w == ws {
			copy(dst, src)
			*offd = offs
			return
		}
	}
	w := max(*wd, ws)
	type bin struct {
		at int64 // bin index at width w
		n  int64
	}
	var bins []bin
	add := func(c []int64, width float64, off int64) {
		shift := uint(math.Round(math.Log2(w / width)))
		for i, v := range c {
			if v != 0 {
				bins = append(bins, bin{(off + int64(i)) >> shift, v}) // >> is floor division for negative bins too
			}
		}
	}
	add(dst, *wd, *offd)
	add(src, ws, offs)
	lo, hi := bins[0].at, bins[0].at
	for _, b := range bins {
		lo, hi = min(lo, b.at), max(hi, b.at)
	}
	shift := uint(0)
	for (hi>>shift)-(lo>>shift)+1 > int64(len(dst)) {
		shift++
	}
	clear(dst)
	off := lo >> shift
	for _, b := range bins {
		dst[(b.at>>shift)-off] += b.n
	}
	*wd, *offd = math.Ldexp(w, int(shift)), off
}
