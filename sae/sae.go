package sae

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas"
)

// Arch names an SAE architecture as SAELens's cfg.json "architecture" does.
type Arch string

// The architectures neuronscope runs and trains.
const (
	// TopK (Gao et al. 2024): z = ReLU(TopK_k(W_enc·(x − b_dec) + b_enc)).
	TopK Arch = "topk"
	// Standard is the ReLU SAE ("relu" on the command line): z = ReLU(W_enc·(x − a·b_dec) + b_enc)
	// with a = apply_b_dec_to_input.
	Standard Arch = "standard"
	// JumpReLU (Rajamanoharan et al. 2024; the atoms paper's threshold SAE):
	// z = p·1[p > θ] with p = W_enc·(x − a·b_dec) + b_enc.
	JumpReLU Arch = "jumprelu"
)

// ParseArch accepts the SAELens names and the command-line aliases "relu" (= standard) and
// "threshold" (= jumprelu).
func ParseArch(s string) (Arch, error) {
	switch s {
	case "topk":
		return TopK, nil
	case "standard", "relu":
		return Standard, nil
	case "jumprelu", "threshold":
		return JumpReLU, nil
	}
	return "", fmt.Errorf("unknown SAE architecture %q (want topk, relu (SAELens \"standard\") or jumprelu)", s)
}

// Values of Config.NormalizeActivations (SAELens normalize_activations).
const (
	// NormNone feeds activations unchanged.
	NormNone = "none"
	// NormExpectedAverage is SAELens's "expected_average_only_in": training scales inputs by
	// a constant so that E‖x‖ = √d_in and folds the constant into the weights when it saves,
	// so at inference it is the identity (as in SAELens 6).
	NormExpectedAverage = "expected_average_only_in"
	// NormConstant rescales every token to norm √d_in on the way in and undoes it on the way
	// out ("constant_norm_rescale").
	NormConstant = "constant_norm_rescale"
	// NormLayer standardises every token, x ← (x − mean)/(std + 1e-5) with the unbiased std,
	// and de-standardises the output with x̂·std + mean ("layer_norm"; OpenAI's released
	// TopK checkpoints).
	NormLayer = "layer_norm"
)

// Config is an SAE's cfg.json: the SAELens fields neuronscope reads and writes. Load accepts
// both the SAELens 6 layout (model and hook under "metadata") and the older flat layout.
type Config struct {
	Architecture Arch // topk, standard or jumprelu
	DIn          int  // input width (the hook's units per position)
	DSAE         int  // number of latents
	// K is the number of latents kept per token (topk).
	K int
	// RescaleActsByDecoderNorm (topk) multiplies pre-activations by ‖W_dec[j]‖ before the
	// top-k and divides latents by it before decoding (SAELens's rescale_acts_by_decoder_norm).
	RescaleActsByDecoderNorm bool
	// ApplyBDecToInput subtracts b_dec from the input before encoding.
	ApplyBDecToInput bool
	// NormalizeActivations is one of the Norm* constants.
	NormalizeActivations string
	DType                string // stored dtype: float32, float16, bfloat16 or float64
	// HookName is the TransformerLens name of the activation the SAE reads and replaces,
	// e.g. "blocks.3.mlp.hook_post".
	HookName string
	// HookLayer is the block of HookName, or -1 for a hook outside the blocks.
	HookLayer int
	ModelName string // the model the SAE was trained on (SAELens model_name)
	// ContextSize, PrependBOS and DatasetPath describe the training data (SAELens metadata).
	ContextSize int
	PrependBOS  bool   // whether the training sequences started with a BOS token
	DatasetPath string // where the training activations came from
}

// SAE is a sparse autoencoder's weights in SAELens's layout, row-major:
//
//	W_enc [d_in, d_sae]   b_enc [d_sae]   W_dec [d_sae, d_in]   b_dec [d_in]   threshold [d_sae] (jumprelu)
//
// Latent j reads along column j of W_enc and writes along row j of W_dec (Direction). An SAE
// is safe for concurrent use once built; Run, Encode and Reconstruct allocate per call unless
// given buffers.
type SAE struct {
	Config
	WEnc      []float32 // [d_in, d_sae]
	BEnc      []float32 // [d_sae]
	WDec      []float32 // [d_sae, d_in]
	BDec      []float32 // [d_in]
	Threshold []float32 // [d_sae], jumprelu only, nil otherwise
	// Path is where the SAE was loaded from ("" when built in memory); errors name it.
	Path string

	decNorm []float32 // ‖W_dec[j]‖, filled by Validate when RescaleActsByDecoderNorm
}

// New returns an SAE with zero weights of the given architecture and widths, and SAELens
// defaults for the rest of its Config (apply_b_dec_to_input true, normalize none, float32).
func New(arch Arch, dIn, dSAE, k int) *SAE {
	s := &SAE{Config: Config{Architecture: arch, DIn: dIn, DSAE: dSAE, K: k, ApplyBDecToInput: true,
		NormalizeActivations: NormNone, DType: "float32", HookLayer: -1, PrependBOS: true},
		WEnc: make([]float32, dIn*dSAE), BEnc: make([]float32, dSAE),
		WDec: make([]float32, dSAE*dIn), BDec: make([]float32, dIn)}
	if arch == JumpReLU {
		s.Threshold = make([]float32, dSAE)
	}
	return s
}

// Validate checks that the configuration is one neuronscope can run and that every weight has
// the shape the configuration says. Errors name the SAE's path.
func (s *SAE) Validate() error {
	c := s.Config
	where := s.Path
	if where == "" {
		where = "sae"
	}
	switch c.Architecture {
	case TopK, Standard, JumpReLU:
	default:
		return fmt.Errorf("%s: architecture %q is not supported (topk, standard, jumprelu)", where, c.Architecture)
	}
	if c.DIn < 1 || c.DSAE < 1 {
		return fmt.Errorf("%s: d_in %d and d_sae %d must be positive", where, c.DIn, c.DSAE)
	}
	if c.Architecture == TopK && (c.K < 1 || c.K > c.DSAE) {
		return fmt.Errorf("%s: k %d must be in 1..d_sae (%d)", where, c.K, c.DSAE)
	}
	switch c.NormalizeActivations {
	case NormNone, NormExpectedAverage, NormConstant, NormLayer:
	default:
		return fmt.Errorf("%s: normalize_activations %q is not one of none, expected_average_only_in, constant_norm_rescale, layer_norm", where, c.NormalizeActivations)
	}
	for _, w := range []struct {
		name string
		v    []float32
		n    int
	}{{"W_enc", s.WEnc, c.DIn * c.DSAE}, {"b_enc", s.BEnc, c.DSAE}, {"W_dec", s.WDec, c.DSAE * c.DIn}, {"b_dec", s.BDec, c.DIn}} {
		if len(w.v) != w.n {
			return fmt.Errorf("%s: %s has %d values, want %d for d_in %d, d_sae %d", where, w.name, len(w.v), w.n, c.DIn, c.DSAE)
		}
	}
	if c.Architecture == JumpReLU && len(s.Threshold) != c.DSAE {
		return fmt.Errorf("%s: threshold has %d values, want d_sae = %d", where, len(s.Threshold), c.DSAE)
	}
	if c.Architecture != JumpReLU && s.Threshold != nil {
		return fmt.Errorf("%s: a %s SAE has no threshold", where, c.Architecture)
	}
	if c.RescaleActsByDecoderNorm {
		if c.Architecture != TopK {
			return fmt.Errorf("%s: rescale_acts_by_decoder_norm applies to topk SAEs only", where)
		}
		s.decNorm = make([]float32, c.DSAE)
		for j := range s.decNorm {
			s.decNorm[j] = float32(norm(s.WDec[j*c.DIn : (j+1)*c.DIn]))
		}
	}
	return nil
}

// Direction returns latent j's decoder direction, row j of W_dec ([d_in], aliasing the
// weights): what adding one unit of the latent adds to the reconstruction.
func (s *SAE) Direction(j int) []float32 { return s.WDec[j*s.DIn : (j+1)*s.DIn] }

// EncoderDirection copies latent j's encoder direction, column j of W_enc, into dst [d_in]
// (allocated if nil) and returns it.
func (s *SAE) EncoderDirection(dst []float32, j int) []float32 {
	if dst == nil {
		dst = make([]float32, s.DIn)
	}
	for i := range s.DIn {
		dst[i] = s.WEnc[i*s.DSAE+j]
	}
	return dst
}

// Pass is one batch of n tokens through an SAE: what SAELens's hooks would see.
type Pass struct {
	N       int       // tokens
	Pre     []float32 // [n, d_sae] hook_sae_acts_pre: W_enc·(x − a·b_dec) + b_enc
	Latents []float32 // [n, d_sae] hook_sae_acts_post
	Recon   []float32 // [n, d_in]  hook_sae_recons after de-normalisation: the SAE output
	mu, sd  []float32 // per-token normalisation (layer_norm: mean and std; constant: 1/coeff)
	xc      []float32 // [n, d_in] encoder input
}

func (p *Pass) size(n, dIn, dSAE int) {
	p.N = n
	p.Pre = grow(p.Pre, n*dSAE)
	p.Latents = grow(p.Latents, n*dSAE)
	p.Recon = grow(p.Recon, n*dIn)
	p.xc = grow(p.xc, n*dIn)
	p.mu = grow(p.mu, n)
	p.sd = grow(p.sd, n)
}

func grow(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}

// Run encodes and decodes x ([n, d_in], n = len(x)/d_in), filling p (whose buffers are reused).
// It panics if len(x) is not a multiple of d_in.
func (s *SAE) Run(p *Pass, x []float32) {
	n := s.rows(x)
	p.size(n, s.DIn, s.DSAE)
	s.encode(p, x)
	s.Redecode(p)
}

// Redecode recomputes p.Recon from p.Latents (which a caller may have edited) with the same
// per-token normalisation as the Run that filled p.
func (s *SAE) Redecode(p *Pass) {
	d, m, n := s.DIn, s.DSAE, p.N
	z := p.Latents
	if s.RescaleActsByDecoderNorm {
		z = make([]float32, len(p.Latents))
		parallel(n, 16, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				for j, v := range p.Latents[i*m : (i+1)*m] {
					if v != 0 {
						z[i*m+j] = v / s.decNorm[j]
					}
				}
			}
		})
	}
	decodeInto(p.Recon, z, s.WDec, s.BDec, n, d, m)
	s.normOut(p, p.Recon)
}

// decodeInto computes out = z·W_dec + b_dec for z [n, m]: sparse row sums when the latents are
// sparse (under 1/8 nonzero), one matrix product otherwise.
func decodeInto(out, z, wDec, bDec []float32, n, d, m int) {
	nnz := 0
	for _, v := range z {
		if v != 0 {
			nnz++
		}
	}
	if nnz*8 < len(z) {
		parallel(n, 16, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				o := out[i*d : (i+1)*d]
				copy(o, bDec)
				for j, v := range z[i*m : (i+1)*m] {
					if v != 0 {
						axpy(v, wDec[j*d:(j+1)*d], o)
					}
				}
			}
		})
		return
	}
	for i := range n {
		copy(out[i*d:(i+1)*d], bDec)
	}
	gemm(blas.NoTrans, blas.NoTrans, n, d, m, 1, z, m, wDec, d, 1, out, d)
}

func (s *SAE) rows(x []float32) int {
	if len(x)%s.DIn != 0 {
		panic(fmt.Sprintf("sae: input has %d values, not a multiple of d_in %d", len(x), s.DIn))
	}
	return len(x) / s.DIn
}

// encode fills p.xc, p.Pre and p.Latents.
func (s *SAE) encode(p *Pass, x []float32) {
	d, m, n := s.DIn, s.DSAE, p.N
	copy(p.xc, x)
	s.normIn(p)
	if s.ApplyBDecToInput {
		parallel(n, 64, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				row := p.xc[i*d : (i+1)*d]
				for c := range row {
					row[c] -= s.BDec[c]
				}
			}
		})
	}
	for i := range n {
		copy(p.Pre[i*m:(i+1)*m], s.BEnc)
	}
	gemm(blas.NoTrans, blas.NoTrans, n, m, d, 1, p.xc, d, s.WEnc, m, 1, p.Pre, m)
	parallel(n, 16, func(lo, hi int) {
		var idx []int32
		var val, scaled []float32
		var sel selector
		if s.Architecture == TopK {
			idx, val = make([]int32, s.K), make([]float32, s.K)
			if s.RescaleActsByDecoderNorm {
				scaled = make([]float32, m)
			}
		}
		for i := lo; i < hi; i++ {
			pre, z := p.Pre[i*m:(i+1)*m], p.Latents[i*m:(i+1)*m]
			switch s.Architecture {
			case TopK:
				in := pre
				if s.RescaleActsByDecoderNorm {
					for j, v := range pre {
						scaled[j] = v * s.decNorm[j]
					}
					in = scaled
				}
				clear(z)
				sel.topK(idx, val, in, s.K)
				for t, j := range idx {
					z[j] = max(val[t], 0)
				}
			case Standard:
				for j, v := range pre {
					z[j] = max(v, 0)
				}
			case JumpReLU:
				for j, v := range pre {
					if v > s.Threshold[j] && v > 0 {
						z[j] = v
					} else {
						z[j] = 0
					}
				}
			}
		}
	})
}

// normIn applies the run-time input normalisation to p.xc in place, keeping what normOut needs.
func (s *SAE) normIn(p *Pass) {
	d := s.DIn
	switch s.NormalizeActivations {
	case NormConstant:
		for i := range p.N {
			row := p.xc[i*d : (i+1)*d]
			nr := norm(row)
			coeff := float32(math.Sqrt(float64(d)) / nr)
			p.sd[i] = coeff
			for c := range row {
				row[c] *= coeff
			}
		}
	case NormLayer:
		for i := range p.N {
			row := p.xc[i*d : (i+1)*d]
			var mu float64
			for _, v := range row {
				mu += float64(v)
			}
			mu /= float64(d)
			var ss float64
			for _, v := range row {
				ss += (float64(v) - mu) * (float64(v) - mu)
			}
			std := math.Sqrt(ss / float64(d-1))
			p.mu[i], p.sd[i] = float32(mu), float32(std)
			for c := range row {
				row[c] = float32((float64(row[c]) - mu) / (std + 1e-5))
			}
		}
	}
}

// normOut undoes the run-time normalisation on out [n, d_in].
func (s *SAE) normOut(p *Pass, out []float32) {
	d := s.DIn
	switch s.NormalizeActivations {
	case NormConstant:
		for i := range p.N {
			row := out[i*d : (i+1)*d]
			for c := range row {
				row[c] /= p.sd[i]
			}
		}
	case NormLayer:
		for i := range p.N {
			row := out[i*d : (i+1)*d]
			for c := range row {
				row[c] = row[c]*p.sd[i] + p.mu[i]
			}
		}
	}
}

// Encode returns the latent activations [n, d_sae] of x [n, d_in] (hook_sae_acts_post), in dst
// if it is large enough.
func (s *SAE) Encode(dst, x []float32) []float32 {
	var p Pass
	n := s.rows(x)
	p.size(n, s.DIn, s.DSAE)
	if cap(dst) >= n*s.DSAE {
		p.Latents = dst[:n*s.DSAE]
	}
	s.encode(&p, x)
	return p.Latents
}

// Reconstruct returns the SAE output x̂ [n, d_in] for x [n, d_in], in dst if it is large enough.
func (s *SAE) Reconstruct(dst, x []float32) []float32 {
	var p Pass
	if cap(dst) >= len(x) {
		p.Recon = dst[:len(x)]
	}
	s.Run(&p, x)
	return p.Recon
}

// FoldDecoderNorm rescales every latent so its decoder row has unit norm without changing what
// the SAE computes, as SAELens's fold_W_dec_norm does: W_dec[j] /= ‖W_dec[j]‖ and column j of
// W_enc, b_enc[j] and (jumprelu) threshold[j] are multiplied by it. A topk SAE can be folded
// only with rescale_acts_by_decoder_norm (otherwise the top-k selection would change), as in
// SAELens. Rows of zero norm are left alone.
func (s *SAE) FoldDecoderNorm() error {
	if s.Architecture == TopK && !s.RescaleActsByDecoderNorm {
		return fmt.Errorf("sae: folding decoder norms into a topk SAE changes its top-k selection unless rescale_acts_by_decoder_norm is set")
	}
	d, m := s.DIn, s.DSAE
	for j := range m {
		row := s.WDec[j*d : (j+1)*d]
		nr := float32(norm(row))
		if nr == 0 {
			continue
		}
		for i := range row {
			row[i] /= nr
		}
		for i := range d {
			s.WEnc[i*m+j] *= nr
		}
		s.BEnc[j] *= nr
		if s.Threshold != nil {
			s.Threshold[j] *= nr
		}
	}
	return s.Validate()
}
