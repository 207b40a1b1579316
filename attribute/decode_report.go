package attribute

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/report"
)

// DecodeNeuronDefinition is the tap-point statement every decode report carries.
const DecodeNeuronDefinition = "neuron i of layer L is index i (Hugging Face's index, never permuted) of " +
	"blocks.L.mlp.hook_post [batch, pos, d_mlp]: the input of the MLP output projection " +
	"(down_proj / W_out / GPT-2 c_proj); for gated MLPs hook_post = act(gate_proj x) * up_proj x. " +
	"Its read direction produces blocks.L.mlp.hook_pre[i], its up direction (gated MLPs) " +
	"blocks.L.mlp.hook_pre_linear[i], and its write direction is what one unit of hook_post[i] adds to the residual stream."

// DecodeReport is the JSON report of `neuronscope decode`: every decoded neuron's top and
// bottom tokens per direction, with what the scores mean.
type DecodeReport struct {
	Provenance       report.Provenance `json:"provenance"`
	NeuronDefinition string            `json:"neuron_definition"`
	Directions       map[string]string `json:"directions"`
	Score            string            `json:"score"`
	Top              int               `json:"top"`
	NormWeight       bool              `json:"norm_weight"`
	TokenStrings     string            `json:"token_strings"`
	DModel           int               `json:"d_model"`
	DMLP             int               `json:"d_mlp"`
	DVocab           int               `json:"d_vocab"`
	Seconds          float64           `json:"seconds"`
	Layers           []DecodedLayer    `json:"layers"`
}

// DecodedLayer holds one layer's decoded neurons.
type DecodedLayer struct {
	Layer   int             `json:"layer"`
	Neurons []DecodedNeuron `json:"neurons"`
}

// DecodedNeuron is one neuron's decoding in the report (blocks.L.mlp.hook_post[i]).
type DecodedNeuron struct {
	hooks.Neuron
	ReadTop     []NamedToken `json:"read_top"`
	ReadBottom  []NamedToken `json:"read_bottom"`
	UpTop       []NamedToken `json:"up_top,omitempty"`
	UpBottom    []NamedToken `json:"up_bottom,omitempty"`
	WriteTop    []NamedToken `json:"write_top"`
	WriteBottom []NamedToken `json:"write_bottom"`
}

// NamedToken is a decoded token with its vocabulary string when a tokenizer was given.
type NamedToken struct {
	ID    int     `json:"token_id"`
	Token *string `json:"token,omitempty"`
	Score float32 `json:"score"`
}

// Decode runs DecodeNeuronsFunc and assembles the report: name (may be nil) gives token
// strings, and tokenNote says where they come from. Provenance is the model's; the caller adds
// to it.
func Decode(m *model.Model, opt DecodeOptions, name func(id int) (string, bool), tokenNote string) (*DecodeReport, error) {
	c := m.Config
	if err := needLMHead(m, "LM-head decoding"); err != nil {
		return nil, err
	}
	res := &DecodeReport{
		Provenance:       m.Provenance(),
		NeuronDefinition: DecodeNeuronDefinition,
		Directions:       directionNotes(m, opt.Layers),
		Score:            scoreNote(m, opt.NormWeight),
		Top:              min(opt.K, c.DVocab),
		NormWeight:       opt.NormWeight,
		TokenStrings:     tokenNote,
		DModel:           c.DModel,
		DMLP:             c.DMLP,
		DVocab:           c.DVocab,
	}
	conv := func(ts []DecodedToken) []NamedToken {
		if ts == nil {
			return nil
		}
		o := make([]NamedToken, len(ts))
		for i, t := range ts {
			o[i] = NamedToken{ID: t.ID, Score: t.Score}
			if name != nil {
				if s, ok := name(t.ID); ok {
					o[i].Token = &s
				}
			}
		}
		return o
	}
	t0 := time.Now()
	err := DecodeNeuronsFunc(m, opt, func(layer []NeuronDecoding) error {
		lo := DecodedLayer{Layer: layer[0].Layer, Neurons: make([]DecodedNeuron, len(layer))}
		for i, n := range layer {
			lo.Neurons[i] = DecodedNeuron{Neuron: n.Neuron,
				ReadTop: conv(n.ReadTop), ReadBottom: conv(n.ReadBottom),
				UpTop: conv(n.UpTop), UpBottom: conv(n.UpBottom),
				WriteTop: conv(n.WriteTop), WriteBottom: conv(n.WriteBottom)}
		}
		res.Layers = append(res.Layers, lo)
		return nil
	})
	if err != nil {
		return nil, err
	}
	res.Seconds = time.Since(t0).Seconds()
	return res, nil
}

// ReadDecodeReport reads a decode report back.
func ReadDecodeReport(path string) (*DecodeReport, error) {
	var r DecodeReport
	if err := report.ReadJSONFile(path, &r); err != nil {
		return nil, err
	}
	if r.NeuronDefinition == "" || r.Layers == nil {
		return nil, fmt.Errorf("%s: not a decode report", path)
	}
	for _, l := range r.Layers {
		for i := range l.Neurons {
			l.Neurons[i].Site = hooks.MLPPost
		}
	}
	return &r, nil
}

// directionNotes names the weight each direction is read from (tensor names with the layer
// index written L).
func directionNotes(m *model.Model, layers []int) map[string]string {
	l := 0
	if len(layers) > 0 {
		l = layers[0]
	}
	w := m.MLP(l)
	where := func(p *model.Param, read bool) string {
		name := strings.Replace(p.Name, "."+strconv.Itoa(l)+".", ".L.", 1)
		if read != p.InOut {
			return fmt.Sprintf("row i of %s %v", name, p.Shape)
		}
		return fmt.Sprintf("column i of %s %v", name, p.Shape)
	}
	notes := map[string]string{
		"read":  where(w.In, true) + ": produces mlp.hook_pre[i]",
		"write": where(w.Out, false) + ": added to the residual stream per unit of mlp.hook_post[i]",
	}
	if w.PostNorm != nil {
		notes["write"] = where(w.Out, false) + ": added to the MLP output per unit of mlp.hook_post[i]; the MLP output passes through " +
			strings.Replace(w.PostNorm.Name, "."+strconv.Itoa(l)+".", ".L.", 1) + " (x/rms(x)·(1 + γ_post)) before it joins the residual stream"
	}
	if w.Up != nil {
		notes["up"] = where(w.Up, true) + ": produces mlp.hook_pre_linear[i] (the vector Davies 2025 decodes)"
	}
	return notes
}

func scoreNote(m *model.Model, normWeight bool) string {
	c := m.Config
	if !normWeight {
		return "score_t = W_U[t] · v, the raw weight vector v against row t of the unembedding [d_vocab, d_model] (logits, not probabilities)"
	}
	g := "γ"
	if c.NormPlusOne {
		g = "(1 + γ)"
	}
	if c.LayerNorm {
		return "score_t = W_U[t] · (γ ⊙ (v − mean(v))): the final LayerNorm's centering and weight γ applied to v, without the per-position 1/scale and the bias (logits, not probabilities)"
	}
	note := "score_t = W_U[t] · (" + g + " ⊙ v): the final RMSNorm's weight applied to v, without the per-position 1/scale (logits, not probabilities)"
	if c.SandwichNorm {
		note += "; a write direction is first multiplied by the post-feed-forward norm's weight (1 + γ_post), without that norm's per-position 1/scale"
	}
	if c.FinalSoftcap > 0 {
		note += "; logits before the final soft-cap"
	}
	return note
}
