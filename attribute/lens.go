package attribute

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/report"
	"github.com/neuronscope/neuronscope/model/tensor"
)

// LensProcedure states what LogitLens computes, for reports.
const LensProcedure = "logit lens (nostalgebraist 2020): for every layer L and position t, logits_L[t] = W_U · " +
	"ln_final(blocks.L.hook_resid_post[t]), the model's own final norm (with its per-position scale) and unembedding " +
	"applied to the residual stream after block L, then the model's final-logit soft-cap cap·tanh(x/cap) where it has one " +
	"(Gemma 2); probabilities are their softmax over the vocabulary. The last layer's lens is the model's output."

// LensOptions configure LogitLens.
type LensOptions struct {
	// K is the number of top tokens kept per layer and position (0: 5).
	K int
	// Layers are the layers whose residual stream is projected (nil: every layer).
	Layers []int
}

// points fills the defaults (K 5, at most the vocabulary) and returns the residual streams the
// lens reads, blocks.L.hook_resid_post of each layer (every layer by default).
func (opt LensOptions) points(c *model.Config) (LensOptions, []hooks.Point, error) {
	if opt.K <= 0 {
		opt.K = 5
	}
	opt.K = min(opt.K, c.DVocab)
	layers := opt.Layers
	if layers == nil {
		for l := range c.NLayers {
			layers = append(layers, l)
		}
	}
	points := make([]hooks.Point, len(layers))
	for i, l := range layers {
		if l < 0 || l >= c.NLayers {
			return opt, nil, fmt.Errorf("layer %d does not exist (the model has %d layers)", l, c.NLayers)
		}
		points[i] = hooks.At(l, hooks.ResidPost)
	}
	return opt, points, nil
}

// LensReport is the logit lens of one prompt (`neuronscope decode --resid`).
type LensReport struct {
	SchemaVersion int               `json:"schema_version"`
	Provenance    report.Provenance `json:"provenance"`
	Procedure     string            `json:"procedure"`
	Prompt        []int             `json:"prompt_ids"`
	PromptTokens  []string          `json:"prompt_tokens,omitempty"`
	// Image is the image of a class lens (ClassLens; its caller names it), with Prompt empty.
	Image  string      `json:"image,omitempty"`
	Top    int         `json:"top"`
	Layers []LensLayer `json:"layers"`
}

// LensLayer is the lens of one layer's residual stream, blocks.Layer.hook_resid_post.
type LensLayer struct {
	Layer     int            `json:"layer"`
	Hook      string         `json:"hook"`
	Positions []LensPosition `json:"positions"`
}

// LensPosition is the lens at one prompt position: the K most probable tokens, and where the
// prompt's own next token ranks (absent at the last position).
type LensPosition struct {
	Pos  int         `json:"pos"`
	Top  []LensToken `json:"top"`
	Next *LensToken  `json:"next_token,omitempty"`
}

// LensToken is one token of the lens: its logit, softmax probability and rank (1 = most
// probable; ties by lower id).
type LensToken struct {
	ID    int     `json:"token_id"`
	Token string  `json:"token,omitempty"`
	Logit float32 `json:"logit"`
	Prob  float64 `json:"prob"`
	Rank  int     `json:"rank"`
}

// LogitLens projects the residual stream after each requested layer (blocks.L.hook_resid_post)
// of one prompt through the model's final norm and unembedding (model.ForwardFrom at layer
// n_layers, so the norm is exactly the model's, with each position's own scale) and keeps, per
// layer and position, the K most probable tokens and the rank of the prompt's next token. name
// (may be nil) gives token strings. Provenance is the model's; the caller adds to it.
//
// A model with a final-logit soft-cap (Gemma 2, and Gemma 3 when final_logit_softcapping is
// set) gets its soft-cap too: the lens shows what the model would output from that residual
// stream, so the last layer's lens is exactly the model's logits, and its probabilities are
// the model's own softmax of them. (The soft-cap is monotone, so it never changes a ranking,
// but it does change the logits and probabilities reported.) An image classifier (ViT) has no
// vocabulary and is refused.
func LogitLens(m *model.Model, prompt []int, opt LensOptions, name func(int) (string, bool)) (*LensReport, error) {
	c := m.Config
	if err := needLMHead(m, "the logit lens"); err != nil {
		return nil, err
	}
	if len(prompt) == 0 {
		return nil, fmt.Errorf("logit lens of an empty prompt")
	}
	opt, points, err := opt.points(c)
	if err != nil {
		return nil, err
	}
	b, err := model.NewBatch([][]int{prompt}, model.PadRight, 0)
	if err != nil {
		return nil, err
	}
	clean, err := m.Forward(b, hooks.CapturePoints(points...))
	if err != nil {
		return nil, err
	}
	str := func(id int) string {
		if name == nil {
			return ""
		}
		s, _ := name(id)
		return s
	}
	rep := &LensReport{SchemaVersion: 1, Provenance: m.Provenance(), Procedure: LensProcedure, Prompt: prompt, Top: opt.K}
	if name != nil {
		for _, id := range prompt {
			rep.PromptTokens = append(rep.PromptTokens, str(id))
		}
	}
	for _, p := range points {
		resid, _ := clean.Cache.Get(p) // [1, pos, d_model]
		logits, err := LensLogits(m, prompt, resid)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		ll := LensLayer{Layer: p.Layer, Hook: p.String()}
		for t := range prompt {
			row := logits.Data[t*c.DVocab : (t+1)*c.DVocab]
			next := -1
			if t+1 < len(prompt) {
				next = prompt[t+1]
			}
			ll.Positions = append(ll.Positions, lensPosition(t, row, opt.K, next, str))
		}
		rep.Layers = append(rep.Layers, ll)
	}
	return rep, nil
}

// LensLogits returns the lens logits of one prompt's residual stream [1, pos, d_model] at any
// depth: the model's final norm (each position's own scale), unembedding and final-logit
// soft-cap if any, [pos, d_vocab].
func LensLogits(m *model.Model, prompt []int, resid *tensor.Tensor) (*tensor.Tensor, error) {
	if err := needLMHead(m, "the logit lens"); err != nil {
		return nil, err
	}
	b, err := model.NewBatch([][]int{prompt}, model.PadRight, 0)
	if err != nil {
		return nil, err
	}
	res, err := m.ForwardFrom(model.Start{Layer: m.Config.NLayers, Resid: resid}, b)
	if err != nil {
		return nil, err
	}
	return tensor.From(res.Logits.Data, len(prompt), m.Config.DVocab), nil
}

// lensPosition ranks one position's logits: the top k tokens and the next token's rank.
func lensPosition(t int, logits []float32, k, next int, str func(int) string) LensPosition {
	maxL := float64(logits[0])
	for _, v := range logits {
		maxL = math.Max(maxL, float64(v))
	}
	var sum float64
	for _, v := range logits {
		sum += math.Exp(float64(v) - maxL)
	}
	tok := func(id, rank int) LensToken {
		return LensToken{ID: id, Token: str(id), Logit: logits[id], Prob: math.Exp(float64(logits[id])-maxL) / sum, Rank: rank}
	}
	before := func(a, b int) bool { // a ranks before b
		return logits[a] > logits[b] || logits[a] == logits[b] && a < b
	}
	top := make([]int, 0, k+1) // the k best so far, best first
	for id := range logits {
		if len(top) == k && !before(id, top[k-1]) {
			continue
		}
		i := sort.Search(len(top), func(i int) bool { return before(id, top[i]) })
		top = append(top, 0)
		copy(top[i+1:], top[i:])
		top[i] = id
		if len(top) > k {
			top = top[:k]
		}
	}
	lp := LensPosition{Pos: t}
	for r, id := range top {
		lp.Top = append(lp.Top, tok(id, r+1))
	}
	if next >= 0 && next < len(logits) {
		rank := 1
		for id := range logits {
			if before(id, next) {
				rank++
			}
		}
		nt := tok(next, rank)
		lp.Next = &nt
	}
	return lp
}

// Table renders the lens for a terminal: a row per layer, a column per prompt position (headed
// by the input token), each cell the most probable token and its probability.
func (r *LensReport) Table() string {
	var b strings.Builder
	if r.Procedure == ClassLensProcedure {
		fmt.Fprintf(&b, "class lens: classifier(ln_final(blocks.L.hook_resid_post[CLS])), most probable class\n")
	} else {
		fmt.Fprintf(&b, "logit lens: ln_final(blocks.L.hook_resid_post) · W_U, most probable token per position\n")
	}
	w := tabwriter.NewWriter(&b, 0, 2, 2, ' ', 0)
	head := []string{"layer"}
	for t, id := range r.Prompt {
		s := fmt.Sprint(id)
		if t < len(r.PromptTokens) && r.PromptTokens[t] != "" {
			s = r.PromptTokens[t]
		}
		head = append(head, fmt.Sprintf("%d:%s", t, s))
	}
	if len(r.Prompt) == 0 { // an image: its positions are named tokens
		for t, s := range r.PromptTokens {
			head = append(head, fmt.Sprintf("%d:%s", t, s))
		}
	}
	fmt.Fprintln(w, strings.Join(head, "\t"))
	for _, l := range r.Layers {
		cells := []string{fmt.Sprint(l.Layer)}
		for _, p := range l.Positions {
			top := p.Top[0]
			s := top.Token
			if s == "" {
				s = fmt.Sprint(top.ID)
			}
			cells = append(cells, fmt.Sprintf("%s %.0f%%", s, 100*top.Prob))
		}
		fmt.Fprintln(w, strings.Join(cells, "\t"))
	}
	w.Flush()
	return b.String()
}
