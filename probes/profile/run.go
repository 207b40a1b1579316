package profile

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/neuronscope/neuronscope/attribute"
	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/tensor"
	"github.com/neuronscope/neuronscope/model/tokenizer"
)

// RunOptions configure Profiler.Run.
type RunOptions struct {
	// Batch is the number of contexts per forward pass (0: 8).
	Batch int
	// PadID fills pad slots (masked; any valid id).
	PadID int
	// AfterBatch, if set, runs after every profiled batch (progress, checkpoints, a stop
	// signal); its error ends the run and is returned.
	AfterBatch func(p *Profiler) error
	// Units are derived units profiled like neurons, each from the activations of its Point.
	Units []Units
}

// Units are units derived from a hook point's activations and profiled like its neurons: a
// decomposition's features or latents. Encode maps the point's activations x [rows, d] (every
// position of the batch, pads included; their units are never counted) to the units'
// activations dst [rows, N]. Hook names the units as a hook point names neurons, by the point's
// name and a suffix: "blocks.L.mlp.hook_post.snmf" for SNMF features (a feature's activation is
// its non-negative coefficient with F fixed), "<hook>.sae.hook_sae_acts_post" for SAE latents
// (SAELens's name).
type Units struct {
	Point  hooks.Point
	Hook   string
	N      int
	Encode func(dst, x []float32) error
}

// Run profiles every neuron of the points over the contexts: it streams them through the model
// in batches (corpus.Run), observes each point without copying (hooks.Observe), and closes each
// batch (EndBatch). Contexts the profiler has already seen (p.Contexts, after Load) are
// skipped, so a resumed run continues where the checkpoint stopped. Call Finish afterwards.
//
//	p := profile.New(profile.Options{})
//	err := p.Run(m, points, func(yield func(corpus.Context) error) error {
//		return corpus.Contexts(corpus.FileDocuments("data.txt"), enc, corpus.ContextOptions{Ctx: 64}, yield)
//	}, profile.RunOptions{})
//	p.Finish()
func (p *Profiler) Run(m *model.Model, points []hooks.Point, contexts func(yield func(corpus.Context) error) error, opt RunOptions) error {
	for _, pt := range points {
		if len(m.Catalog().Shape(pt)) != 1 {
			return fmt.Errorf("%s has shape %v after [batch, pos]; profile needs [batch, pos, neurons]", pt, m.Catalog().Shape(pt))
		}
	}
	for _, u := range opt.Units {
		if !m.Catalog().Has(u.Point) || len(m.Catalog().Shape(u.Point)) != 1 {
			return fmt.Errorf("%s: the model has no [batch, pos, units] hook point %s", u.Hook, u.Point)
		}
		if u.N < 1 || u.Encode == nil {
			return fmt.Errorf("%s: %d units, or no encoder", u.Hook, u.N)
		}
	}
	return corpus.Run(m, contexts, corpus.RunOptions{Batch: opt.Batch, PadID: opt.PadID, Skip: p.Contexts,
		Hooks: func(b *corpus.Batch) []hooks.Option {
			observe := func(pt hooks.Point, a *tensor.Tensor) error {
				return p.Observe(pt, a.Data, b.Contexts, a.Shape[1], a.Shape[2])
			}
			opts := make([]hooks.Option, 0, len(points)+len(opt.Units))
			for _, pt := range points {
				opts = append(opts, hooks.ObservePoint(pt, observe))
			}
			for _, u := range opt.Units {
				opts = append(opts, hooks.ObservePoint(u.Point, func(_ hooks.Point, a *tensor.Tensor) error {
					rows, t := a.Shape[0], a.Shape[1]
					dst := make([]float32, rows*t*u.N)
					if err := u.Encode(dst, a.Data); err != nil {
						return fmt.Errorf("%s: %w", u.Hook, err)
					}
					return p.ObserveUnits(u.Hook, u.Point.Layer, dst, b.Contexts, t, u.N)
				}))
			}
			return opts
		},
		After: func(b *corpus.Batch) error {
			p.EndBatch(b.Contexts)
			if opt.AfterBatch != nil {
				return opt.AfterBatch(p)
			}
			return nil
		}})
}

// Fingerprint identifies a run's settings, hook points and model config: a checkpoint resumes
// only a run with the same fingerprint.
func Fingerprint(set Settings, points []hooks.Point, configHash string) string {
	names := make([]string, len(points))
	for i, pt := range points {
		names[i] = pt.String()
	}
	js, _ := json.Marshal(struct {
		S     Settings
		Hooks []string
		Cfg   string
	}{set, names, configHash})
	return fmt.Sprintf("%x", sha256.Sum256(js))
}

// TokenNames names token ids for example windows and vocabulary lists. SentencePiece
// vocabularies mark a leading space with ▁, which decoding a single token strips: it is shown
// as a space. Otherwise a token is decoded alone (byte-level BPE: Ġ becomes a space, bytes
// become text), or shown as stored, or as <id>. A nil tokenizer names every id <id>.
func TokenNames(tok *tokenizer.Tokenizer) TokenNamer {
	if tok == nil {
		return defaultName
	}
	return func(id int) string {
		if s, ok := tok.IDToToken(id); ok && strings.Contains(s, "▁") {
			return strings.ReplaceAll(s, "▁", " ")
		}
		if s, err := tok.Decode([]int{id}, false); err == nil && s != "" {
			return s
		}
		if s, ok := tok.IDToToken(id); ok {
			return s
		}
		return defaultName(id)
	}
}

// The notes Settings carry about the vocabulary projections of VocabTokens.
const (
	LMHeadSource = "attribute.DecodeNeurons (NormWeight false): LM-head decoding of the raw write direction w (column of down_proj / W_out); score_t = W_U[t]·w; top and bottom tokens"
	DLASource    = "attribute.DecodeNeurons (NormWeight true): direct logit attribution per unit activation, the write direction through the final norm's linear part and the unembedding as in attribute.DirectLogit; score_t = W_U[t]·(g ⊙ P w) (g the final norm weight, Gemma 1+γ; P centering for LayerNorm), with w first multiplied by the post-feed-forward norm's weight 1+γ_post where the MLP output passes through one (Gemma 2/3); the logit change (before any final soft-cap) is a·score_t/(s·s_post) at a position with activation a, ln_final.hook_scale s and post-norm divisor s_post (1 without a post-norm)"
)

// VocabTokens projects the write direction of every profiled mlp.hook_post neuron onto the
// vocabulary with attribute.DecodeNeuronsFunc and keeps the top and bottom k tokens: through
// the unembedding alone (normWeight false: the LM-head decoding), or first through the norms'
// linear parts (normWeight true: direct logit attribution per unit activation, up to the
// position's 1/ln_final.hook_scale and, behind Gemma 2/3's post-feed-forward norm, that norm's
// 1/divisor; the norm's weight is included). Neurons of other points get none.
func VocabTokens(m *model.Model, points []hooks.Point, k int, normWeight bool, name TokenNamer) (map[hooks.Neuron]*TokenLists, error) {
	var layers []int
	for _, pt := range points {
		if pt.Site == hooks.MLPPost {
			layers = append(layers, pt.Layer)
		}
	}
	out := map[hooks.Neuron]*TokenLists{}
	if len(layers) == 0 {
		return out, nil
	}
	conv := func(ts []attribute.DecodedToken) []ScoredToken {
		res := make([]ScoredToken, len(ts))
		for i, t := range ts {
			res[i] = ScoredToken{ID: t.ID, Token: name(t.ID), Score: t.Score}
		}
		return res
	}
	err := attribute.DecodeNeuronsFunc(m, attribute.DecodeOptions{K: k, Layers: layers,
		Directions: []attribute.DecodeDirection{attribute.DecodeWrite}, NormWeight: normWeight},
		func(layer []attribute.NeuronDecoding) error {
			for _, d := range layer {
				out[d.Neuron] = &TokenLists{Top: conv(d.WriteTop), Bottom: conv(d.WriteBottom)}
			}
			return nil
		})
	return out, err
}

// DatasetNote is the provenance's description of a profiled dataset: the data, its sha256, the
// tokens and contexts profiled, and what happened to BOS positions.
func DatasetNote(data, sha256 string, tokens, contexts int64, includeBOS bool, bosExcluded int64) string {
	s := fmt.Sprintf("%s (sha256 %s), %d tokens in %d contexts", data, sha256, tokens, contexts)
	if includeBOS {
		return s + "; BOS positions counted (--include-bos)"
	}
	return s + fmt.Sprintf("; %d BOS positions left out of the statistics", bosExcluded)
}
