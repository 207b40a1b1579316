package sae

import (
	"fmt"
	"math"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/tensor"
)

// LatentsHookSuffix is appended to an SAE's hook name to name its latents the way SAELens's
// HookedSAETransformer does: "<hook>.sae.hook_sae_acts_post", e.g.
// "blocks.3.mlp.hook_post.sae.hook_sae_acts_post".
const LatentsHookSuffix = ".sae.hook_sae_acts_post"

// Intervention edits the latents of one model call, [batch, pos, d_sae], in place, after the
// SAE encodes and before it decodes.
type Intervention func(latents *tensor.Tensor) error

// Ablate sets the given latents to zero at every position.
func Ablate(latents ...int) Intervention {
	return func(z *tensor.Tensor) error {
		return eachRow(z, latents, func(row []float32, j int) { row[j] = 0 })
	}
}

// Clamp sets a latent to value at every position.
func Clamp(latent int, value float32) Intervention {
	return func(z *tensor.Tensor) error {
		return eachRow(z, []int{latent}, func(row []float32, j int) { row[j] = value })
	}
}

// Scale multiplies a latent by factor at every position.
func Scale(latent int, factor float32) Intervention {
	return func(z *tensor.Tensor) error {
		return eachRow(z, []int{latent}, func(row []float32, j int) { row[j] *= factor })
	}
}

// Steer adds coeff to a latent at every position, which moves the SAE output by
// coeff·W_dec[latent] (divided by ‖W_dec[latent]‖ for a topk SAE with
// rescale_acts_by_decoder_norm, and through the de-normalisation of a normalising SAE):
// steering along the latent's decoder direction.
func Steer(latent int, coeff float32) Intervention {
	return func(z *tensor.Tensor) error {
		return eachRow(z, []int{latent}, func(row []float32, j int) { row[j] += coeff })
	}
}

func eachRow(z *tensor.Tensor, latents []int, fn func(row []float32, j int)) error {
	m := z.Shape[len(z.Shape)-1]
	for _, j := range latents {
		if j < 0 || j >= m {
			return fmt.Errorf("latent %d is out of range (the SAE has %d)", j, m)
		}
	}
	for r := 0; r < len(z.Data)/m; r++ {
		row := z.Data[r*m : (r+1)*m]
		for _, j := range latents {
			fn(row, j)
		}
	}
	return nil
}

// SpliceOptions choose how an SAE runs inside the model.
type SpliceOptions struct {
	// ErrorTerm adds back the SAE's error x − x̂ (SAELens use_error_term), so that the model
	// sees x plus exactly the effect of the interventions: x + (x̂_edited − x̂). Without it the
	// model sees the reconstruction x̂ (edited).
	ErrorTerm bool
	// Interventions edit the latents, in order.
	Interventions []Intervention
	// CaptureLatents keeps the latents (after the interventions), [batch, pos, d_sae], for
	// Splice.Latents.
	CaptureLatents bool
}

// Splice runs an SAE at its hook inside a model call. Its Option is passed to the model's
// Forward (or anything taking hook options); after the call, Latents returns what the SAE
// computed. The hooks catalog only knows the model's own points, so the latents are returned
// by the Splice rather than through hooks.Capture; LatentsName is their SAELens hook name. A
// Splice is for one call at a time.
type Splice struct {
	SAE   *SAE        // the SAE spliced in
	Point hooks.Point // where: the SAE's hook_name resolved in the model's catalog
	opt   SpliceOptions
	pass  Pass
	lat   *tensor.Tensor
	clean []float32
}

// NewSplice checks that s can run at its hook in a model with catalog cat: the hook must
// exist and have d_in units per position. Errors name the SAE's path and hook.
func NewSplice(s *SAE, cat hooks.Catalog, opt SpliceOptions) (*Splice, error) {
	where := s.Path
	if where == "" {
		where = "sae"
	}
	if s.HookName == "" {
		return nil, fmt.Errorf("%s: the SAE has no hook_name to splice it at", where)
	}
	ps, err := cat.Match(s.HookName)
	if err != nil {
		return nil, fmt.Errorf("%s: hook_name %q: %v", where, s.HookName, err)
	}
	if len(ps) != 1 {
		return nil, fmt.Errorf("%s: hook_name %q names %d hook points, want one", where, s.HookName, len(ps))
	}
	if w := cat.Width(ps[0]); w != s.DIn {
		return nil, fmt.Errorf("%s: d_in is %d but %s has %d units per position in this model", where, s.DIn, ps[0], w)
	}
	return &Splice{SAE: s, Point: ps[0], opt: opt}, nil
}

// LatentsName is "<hook>.sae.hook_sae_acts_post".
func (sp *Splice) LatentsName() string { return sp.Point.String() + LatentsHookSuffix }

// Latents returns the latents of the last call ([batch, pos, d_sae], after the
// interventions), or nil if CaptureLatents was not set or no call ran.
func (sp *Splice) Latents() *tensor.Tensor { return sp.lat }

// Option is the hook option that splices the SAE into a model call.
func (sp *Splice) Option() hooks.Option {
	return hooks.EditPoint(sp.Point, func(_ hooks.Point, act *tensor.Tensor) error {
		return sp.apply(act)
	})
}

func (sp *Splice) apply(act *tensor.Tensor) error {
	s := sp.SAE
	d, m := s.DIn, s.DSAE
	if len(act.Data)%d != 0 || len(act.Shape) < 3 {
		return fmt.Errorf("SAE %s: activation of shape %v is not [batch, pos, %d]", s.Path, act.Shape, d)
	}
	x := act.Data
	if ok, at := finite(x); !ok {
		return fmt.Errorf("SAE %s: non-finite activation at row %d of %s", s.Path, at/d, sp.Point)
	}
	s.Run(&sp.pass, x)
	p := &sp.pass
	lat := tensor.From(p.Latents, act.Shape[0], act.Shape[1], m)
	edited := len(sp.opt.Interventions) > 0
	if edited {
		sp.clean = append(sp.clean[:0], p.Latents...)
		for _, iv := range sp.opt.Interventions {
			if err := iv(lat); err != nil {
				return fmt.Errorf("SAE %s at %s: %w", s.Path, sp.Point, err)
			}
		}
	}
	switch {
	case sp.opt.ErrorTerm && edited:
		// x + (x̂_edited − x̂): only the latents that changed contribute, so an edit that
		// changes nothing leaves x exactly as it was.
		sp.addDelta(x, p)
	case sp.opt.ErrorTerm:
		// x + (x̂ − x̂) = x.
	default:
		if edited {
			s.Redecode(p)
		}
		copy(x, p.Recon)
	}
	if sp.opt.CaptureLatents {
		sp.lat = tensor.From(append([]float32(nil), p.Latents...), act.Shape[0], act.Shape[1], m)
	}
	return nil
}

// addDelta adds the decoded change of the latents to x, row by row.
func (sp *Splice) addDelta(x []float32, p *Pass) {
	s := sp.SAE
	d, m := s.DIn, s.DSAE
	parallel(p.N, 16, func(lo, hi int) {
		delta := make([]float32, d)
		for i := lo; i < hi; i++ {
			clear(delta)
			changed := false
			for j := range m {
				dz := p.Latents[i*m+j] - sp.clean[i*m+j]
				if dz == 0 {
					continue
				}
				if s.RescaleActsByDecoderNorm {
					dz /= s.decNorm[j]
				}
				axpy(dz, s.WDec[j*d:(j+1)*d], delta)
				changed = true
			}
			if !changed {
				continue
			}
			f := float32(1)
			switch s.NormalizeActivations {
			case NormConstant:
				f = 1 / p.sd[i]
			case NormLayer:
				f = p.sd[i]
			}
			row := x[i*d : (i+1)*d]
			for c := range row {
				row[c] += f * delta[c]
			}
		}
	})
}

// LossMetrics compare the model's next-token loss with the SAE spliced in against the clean
// model and against zero-ablating the hook.
type LossMetrics struct {
	// CEClean, CESpliced and CEZero are mean next-token cross-entropies (nats) over the
	// positions whose next token is real.
	CEClean   float64 `json:"ce_clean"`         // the model as it is
	CESpliced float64 `json:"ce_spliced"`       // with the SAE output at the hook
	CEZero    float64 `json:"ce_zero_ablation"` // with zeros at the hook
	// CEIncrease = CESpliced − CEClean.
	CEIncrease float64 `json:"ce_increase"`
	// LossRecovered = (CEZero − CESpliced)/(CEZero − CEClean).
	LossRecovered float64 `json:"loss_recovered"`
	Targets       int     `json:"target_tokens"` // positions averaged over
}

// EvaluateInModel runs the token sequences through m in batches of batchSize (right-padded
// with padID) three times, clean, with s spliced in at its hook (no error term) and with the
// hook zero-ablated, and returns the SAE metrics on the clean activations at real tokens and
// the loss metrics.
func EvaluateInModel(m *model.Model, s *SAE, seqs [][]int, batchSize, padID int) (Metrics, LossMetrics, error) {
	return EvaluateInModelLeading(m, s, seqs, nil, batchSize, padID)
}

// EvaluateInModelLeading is EvaluateInModel with the SAE metrics leaving out the first
// leading[i] tokens of sequence i (e.g. its BOS positions, corpus.Context.BOS; nil: none). The
// loss metrics still cover every position whose next token is real.
func EvaluateInModelLeading(m *model.Model, s *SAE, seqs [][]int, leading []int, batchSize, padID int) (Metrics, LossMetrics, error) {
	if leading != nil && len(leading) != len(seqs) {
		return Metrics{}, LossMetrics{}, fmt.Errorf("sae: %d leading-token counts for %d sequences", len(leading), len(seqs))
	}
	sp, err := NewSplice(s, m.Catalog(), SpliceOptions{})
	if err != nil {
		return Metrics{}, LossMetrics{}, err
	}
	if batchSize < 1 {
		return Metrics{}, LossMetrics{}, fmt.Errorf("sae: batch size %d: want ≥ 1", batchSize)
	}
	ev := NewEvaluator(s)
	var lm LossMetrics
	var sumClean, sumSplice, sumZero float64
	d := s.DIn
	for lo := 0; lo < len(seqs); lo += batchSize {
		b, err := model.NewBatch(seqs[lo:min(lo+batchSize, len(seqs))], model.PadRight, padID)
		if err != nil {
			return Metrics{}, LossMetrics{}, fmt.Errorf("sequences %d..: %w", lo, err)
		}
		var rows []float32
		clean, err := m.Forward(b, hooks.ObservePoint(sp.Point, func(_ hooks.Point, act *tensor.Tensor) error {
			for i, real := range b.Mask {
				if real && (leading == nil || i%b.Len >= leading[lo+i/b.Len]) {
					rows = append(rows, act.Data[i*d:(i+1)*d]...)
				}
			}
			return nil
		}))
		if err != nil {
			return Metrics{}, LossMetrics{}, err
		}
		if ok, at := finite(rows); !ok {
			return Metrics{}, LossMetrics{}, fmt.Errorf("sae: non-finite activation at %s (real token %d of batch %d)", sp.Point, at/d, lo/batchSize)
		}
		ev.Add(rows)
		spliced, err := m.Forward(b, sp.Option())
		if err != nil {
			return Metrics{}, LossMetrics{}, err
		}
		zero, err := m.Forward(b, hooks.EditPoint(sp.Point, func(_ hooks.Point, act *tensor.Tensor) error {
			clear(act.Data)
			return nil
		}))
		if err != nil {
			return Metrics{}, LossMetrics{}, err
		}
		c, n := nextTokenLoss(b, clean.Logits)
		sp1, _ := nextTokenLoss(b, spliced.Logits)
		z, _ := nextTokenLoss(b, zero.Logits)
		sumClean, sumSplice, sumZero = sumClean+c, sumSplice+sp1, sumZero+z
		lm.Targets += n
	}
	if lm.Targets == 0 {
		return Metrics{}, LossMetrics{}, fmt.Errorf("sae: no position has a next token to predict (sequences of one token?)")
	}
	t := float64(lm.Targets)
	lm.CEClean, lm.CESpliced, lm.CEZero = sumClean/t, sumSplice/t, sumZero/t
	lm.CEIncrease = lm.CESpliced - lm.CEClean
	lm.LossRecovered = (lm.CEZero - lm.CESpliced) / (lm.CEZero - lm.CEClean)
	return ev.Metrics(), lm, nil
}

// nextTokenLoss sums −log p(next token) over positions p whose token and next token are both
// real, in float64, and returns the sum and the count.
func nextTokenLoss(b model.Batch, logits *tensor.Tensor) (float64, int) {
	v := logits.Shape[2]
	var sum float64
	n := 0
	for r := range b.Size {
		for p := 0; p+1 < b.Len; p++ {
			i := r*b.Len + p
			if !b.Mask[i] || !b.Mask[i+1] {
				continue
			}
			row := logits.Data[i*v : (i+1)*v]
			mx := math.Inf(-1)
			for _, x := range row {
				mx = math.Max(mx, float64(x))
			}
			var z float64
			for _, x := range row {
				z += math.Exp(float64(x) - mx)
			}
			sum += mx + math.Log(z) - float64(row[b.IDs[i+1]])
			n++
		}
	}
	return sum, n
}
