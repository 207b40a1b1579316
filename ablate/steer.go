package ablate

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/probes/labels"
)

// Steering calibration defaults: the SNMF paper's binary search (α in [1, 2000], 20
// iterations, tolerance 0.01 on the KL) and its KL targets.
var DefaultKLTargets = []float64{0.025, 0.05, 0.1, 0.25, 0.5}

const (
	DefaultAlphaLo    = 1.0
	DefaultAlphaHi    = 2000.0
	DefaultIterations = 20
	DefaultTolerance  = 0.01
)

// CalibrateOptions configure Calibrate.
type CalibrateOptions struct {
	// Targets are the KL values to reach (nil: DefaultKLTargets).
	Targets []float64
	// Lo and Hi bound α (0: DefaultAlphaLo, DefaultAlphaHi); Iterations caps the bisection
	// steps (0: DefaultIterations); Tolerance is the absolute |KL − target| accepted
	// (0: DefaultTolerance).
	Lo, Hi     float64
	Iterations int
	Tolerance  float64
	// Signs are the signs of α tried (nil: +1 and −1).
	Signs []int
	At    Positions
}

func (o *CalibrateOptions) defaults() {
	if o.Targets == nil {
		o.Targets = DefaultKLTargets
	}
	if o.Lo == 0 {
		o.Lo = DefaultAlphaLo
	}
	if o.Hi == 0 {
		o.Hi = DefaultAlphaHi
	}
	if o.Iterations == 0 {
		o.Iterations = DefaultIterations
	}
	if o.Tolerance == 0 {
		o.Tolerance = DefaultTolerance
	}
	if o.Signs == nil {
		o.Signs = []int{1, -1}
	}
}

// UnreachableError says that no KL target could be reached within the α bounds.
type UnreachableError struct {
	Lo, Hi float64
	KLLo   float64 // KL at α = Lo (largest over the signs)
	KLHi   float64 // KL at α = Hi (largest over the signs)
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("α search bounds [%g, %g] reach no KL target: KL(base ‖ steered) goes from %.4g to %.4g over them", e.Lo, e.Hi, e.KLLo, e.KLHi)
}

// Calibrate finds, for each KL target and sign s, the steering strength α in [Lo, Hi] at
// which adding s·α·dir (dir made unit-norm) makes KL(P_base ‖ P_steered) of the next-token
// distribution at the prompt's last position equal the target within the tolerance: a
// bisection that assumes the KL grows with α. A target it cannot reach is kept and marked
// (Reached false, Why, the closest α and KL), never dropped; when no target is reached the
// result is returned with an *UnreachableError.
func Calibrate(m *model.Model, prompt []int, dir Direction, opt CalibrateOptions) (*labels.Steering, error) {
	opt.defaults()
	if !(opt.Lo > 0 && opt.Hi > opt.Lo) {
		return nil, fmt.Errorf("α bounds [%g, %g]: want 0 < lo < hi", opt.Lo, opt.Hi)
	}
	for _, t := range opt.Targets {
		if !(t > 0) {
			return nil, fmt.Errorf("KL target %g: want > 0", t)
		}
	}
	if err := dir.Check(m.Catalog()); err != nil {
		return nil, err
	}
	unit, err := dir.Unit()
	if err != nil {
		return nil, err
	}
	k := newKLProbe(m, prompt, unit, opt.At)
	st := &labels.Steering{Direction: dir.Name, Tolerance: opt.Tolerance, Bounds: [2]float64{opt.Lo, opt.Hi}}
	for _, p := range unit.Parts {
		st.Points = append(st.Points, p.Point.String())
	}
	ue := &UnreachableError{Lo: opt.Lo, Hi: opt.Hi}
	reached := 0
	for _, sign := range opt.Signs {
		klLo, err := k.at(float64(sign) * opt.Lo)
		if err != nil {
			return nil, err
		}
		klHi, err := k.at(float64(sign) * opt.Hi)
		if err != nil {
			return nil, err
		}
		ue.KLLo, ue.KLHi = math.Max(ue.KLLo, klLo), math.Max(ue.KLHi, klHi)
		for _, t := range opt.Targets {
			sp := labels.SteerPoint{TargetKL: t, Sign: sign}
			close := func(a, kl float64) {
				if sp.Alpha == 0 || math.Abs(kl-t) < math.Abs(sp.KL-t) {
					sp.Alpha, sp.KL = a, kl
				}
			}
			close(opt.Lo, klLo)
			close(opt.Hi, klHi)
			switch {
			case math.Abs(klLo-t) <= opt.Tolerance:
				sp.Alpha, sp.KL, sp.Reached = opt.Lo, klLo, true
			case math.Abs(klHi-t) <= opt.Tolerance:
				sp.Alpha, sp.KL, sp.Reached = opt.Hi, klHi, true
			case klLo > t:
				sp.Why = fmt.Sprintf("KL is already %.4g at the lower bound α = %g", klLo, opt.Lo)
			case klHi < t:
				sp.Why = fmt.Sprintf("KL reaches only %.4g at the upper bound α = %g", klHi, opt.Hi)
			default:
				lo, hi := opt.Lo, opt.Hi
				for it := 0; it < opt.Iterations && !sp.Reached; it++ {
					mid := (lo + hi) / 2
					kl, err := k.at(float64(sign) * mid)
					if err != nil {
						return nil, err
					}
					close(mid, kl)
					switch {
					case math.Abs(kl-t) <= opt.Tolerance:
						sp.Alpha, sp.KL, sp.Reached = mid, kl, true
					case kl < t:
						lo = mid
					default:
						hi = mid
					}
				}
				if !sp.Reached {
					sp.Why = fmt.Sprintf("no α within %g of the target after %d bisection steps (is the KL not monotone in α?)", opt.Tolerance, opt.Iterations)
				}
			}
			if sp.Reached {
				reached++
			}
			st.Targets = append(st.Targets, sp)
		}
	}
	if reached == 0 {
		return st, ue
	}
	return st, nil
}

// klProbe measures KL(base ‖ steered) at one prompt's last position.
type klProbe struct {
	m      *model.Model
	b      *Batch
	base   []float32
	dir    Direction
	pos    Positions
	err    error
	cached map[float64]float64
}

func newKLProbe(m *model.Model, prompt []int, dir Direction, at Positions) *klProbe {
	k := &klProbe{m: m, dir: dir, pos: at, cached: map[float64]float64{}}
	k.b = batches([][]int{prompt}, nil, 1)[0]
	res, err := m.Forward(k.b.Batch)
	if err != nil {
		k.err = err
		return k
	}
	k.base = logSoftmax(lastRow(res, 0, k.b.Len, m.Config.DVocab))
	return k
}

func (k *klProbe) at(alpha float64) (float64, error) {
	if k.err != nil {
		return 0, k.err
	}
	if v, ok := k.cached[alpha]; ok {
		return v, nil
	}
	opts, err := (&Add{Dir: k.dir, Alpha: float32(alpha), At: k.pos}).Hooks(k.b)
	if err != nil {
		return 0, err
	}
	res, err := k.m.Forward(k.b.Batch, opts...)
	if err != nil {
		return 0, err
	}
	v := kl(k.base, logSoftmax(lastRow(res, 0, k.b.Len, k.m.Config.DVocab)))
	k.cached[alpha] = v
	return v, nil
}

func lastRow(res *model.Result, r, T, V int) []float32 {
	return res.Logits.Data[((r+1)*T-1)*V:][:V]
}

// SampleOptions configure Sample. The zero value is greedy decoding.
type SampleOptions struct {
	MaxNew int
	// TopK keeps the k most likely tokens (0: all); TopP keeps the smallest set of most likely
	// tokens whose probability reaches p (0 or 1: all); Temperature divides the logits first
	// (0: 1). With none of the three set, decoding is greedy.
	TopK        int
	TopP        float64
	Temperature float64
	// Seed seeds row r's draws with PCG(Seed, r).
	Seed uint64
	// StopAtEOS ends a row at the model's EOS token (kept in the output).
	StopAtEOS bool
}

func (o SampleOptions) greedy() bool {
	return o.TopK == 0 && (o.TopP == 0 || o.TopP >= 1) && (o.Temperature == 0 || o.Temperature == 1)
}

// Sample continues each prompt by up to MaxNew tokens with the intervention applied at every
// step (nil: none), greedily or by seeded top-k / top-p sampling (HF's order: temperature,
// then top-k, then top-p; probabilities in float64; a draw u ∈ [0,1) picks the first token,
// most likely first, whose cumulative probability exceeds u). Prompts run in one left-padded
// batch with a KV cache.
func Sample(m *model.Model, prompts [][]int, iv Intervention, opt SampleOptions) ([][]int, error) {
	if opt.MaxNew < 1 {
		return nil, fmt.Errorf("generation needs at least 1 new token, got %d", opt.MaxNew)
	}
	if opt.TopK < 0 || opt.TopP < 0 || opt.Temperature < 0 {
		return nil, fmt.Errorf("sampling: top-k %d, top-p %g and temperature %g must not be negative", opt.TopK, opt.TopP, opt.Temperature)
	}
	for i, p := range prompts {
		if len(p) == 0 {
			return nil, fmt.Errorf("prompt %d is empty", i)
		}
	}
	if len(prompts) == 0 {
		return nil, fmt.Errorf("no prompts")
	}
	seqs := make([][]int, len(prompts))
	copy(seqs, prompts)
	b := &Batch{Items: make([]int, len(prompts)), Lens: make([]int, len(prompts)), PromptLens: make([]int, len(prompts))}
	for i, p := range prompts {
		b.Items[i], b.Lens[i], b.PromptLens[i] = i, len(p), len(p)
	}
	mb, err := model.NewBatch(seqs, model.PadLeft, 0)
	if err != nil {
		return nil, err
	}
	b.Batch = mb
	if b.Len+opt.MaxNew > m.Config.MaxPos {
		return nil, fmt.Errorf("prompt of %d tokens plus %d new tokens exceeds the model's %d positions", b.Len, opt.MaxNew, m.Config.MaxPos)
	}
	rngs := make([]*rand.Rand, b.Size)
	for r := range rngs {
		rngs[r] = rand.New(rand.NewPCG(opt.Seed, uint64(r)))
	}
	kv := m.NewKVCache(b.Size, b.Len+opt.MaxNew)
	out := make([][]int, b.Size)
	done := make([]bool, b.Size)
	step := b
	V := m.Config.DVocab
	for s := 0; s < opt.MaxNew; s++ {
		var opts []hooks.Option
		if iv != nil {
			if opts, err = iv.Hooks(step); err != nil {
				return nil, err
			}
		}
		res, err := m.ForwardKV(step.Batch, kv, opts...)
		if err != nil {
			return nil, err
		}
		next := &Batch{Batch: model.Batch{Size: b.Size, Len: 1, IDs: make([]int, b.Size), Mask: make([]bool, b.Size)},
			Items: b.Items, Lens: b.Lens, PromptLens: b.PromptLens, Past: b.Len + s}
		all := true
		for r := 0; r < b.Size; r++ {
			row := lastRow(res, r, step.Len, V)
			tok := model.Argmax(row)
			if !opt.greedy() {
				tok = draw(row, opt, rngs[r])
			}
			if !done[r] {
				out[r] = append(out[r], tok)
				done[r] = opt.StopAtEOS && tok == m.Config.EOS
			}
			all = all && done[r]
			next.IDs[r], next.Mask[r] = tok, true
		}
		if all {
			break
		}
		step = next
	}
	return out, nil
}

// draw samples a token from logits under opt.
func draw(logits []float32, opt SampleOptions, rng *rand.Rand) int {
	temp := opt.Temperature
	if temp == 0 {
		temp = 1
	}
	idx := make([]int, len(logits))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return logits[idx[a]] > logits[idx[b]] })
	if opt.TopK > 0 && opt.TopK < len(idx) {
		idx = idx[:opt.TopK]
	}
	mx := float64(logits[idx[0]]) / temp
	p := make([]float64, len(idx))
	var z float64
	for k, i := range idx {
		p[k] = math.Exp(float64(logits[i])/temp - mx)
		z += p[k]
	}
	for k := range p {
		p[k] /= z
	}
	if opt.TopP > 0 && opt.TopP < 1 {
		var c float64
		for k := range p {
			c += p[k]
			if c >= opt.TopP {
				p, idx = p[:k+1], idx[:k+1]
				break
			}
		}
		z = 0
		for _, x := range p {
			z += x
		}
		for k := range p {
			p[k] /= z
		}
	}
	u := rng.Float64()
	var c float64
	for k, x := range p {
		c += x
		if u < c {
			return idx[k]
		}
	}
	return idx[len(idx)-1]
}

// describeAlpha names a steering strength for reports.
func describeAlpha(sp labels.SteerPoint) string {
	sign := "+"
	if sp.Sign < 0 {
		sign = "−"
	}
	return fmt.Sprintf("%sα = %s%.4g (KL %.4g, target %g)", sign, sign, sp.Alpha, sp.KL, sp.TargetKL)
}
