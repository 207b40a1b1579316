package model

import (
	"encoding/json"
	"fmt"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model/tensor"
)

// ViT (model_type "vit", ViTForImageClassification): an image of image_size² pixels is cut into
// (image_size/patch_size)² patches in raster order (patch index row·cols + col), each projected
// by the patch embedding, a Conv2d with kernel = stride = patch_size (patch value = Σ over
// channel c, ky, kx of W[o, c, ky, kx]·pixel[c, P·row + ky, P·col + kx] + b[o]); a learned CLS
// token goes first, so an image is T = patches + 1 tokens, and learned position embeddings are
// added. The blocks are pre-LN (layernorm_before, layernorm_after, LayerNorm with bias) with
// bidirectional attention (no mask), q/k/v biases (qkv_bias), scores / sqrt(d_head), and a
// GELU (exact erf) MLP; vit.layernorm runs on every token and the classifier reads token 0
// (CLS): logits [batch, n_classes] = classifier(ln_final.output[:, 0]) + bias.
//
// Hooks are TransformerLens-style over the tokens: hook_embed is [CLS; patch projections]
// before the position embeddings, hook_pos_embed the position embeddings; the MLP hidden
// blocks.L.mlp.hook_post (ViTIntermediate's output, the input of output.dense) is "the neuron";
// token 0 of every activation is CLS. Checkpoints without the classifier (ViTModel, pooler
// weights) and interpolated position embeddings are not supported. ForwardImages and
// GradientImages run images (pixel values from model/vision); the token-id entry points refuse
// an image model.

type vitWeights struct {
	CLS    *Param     `st:"vit.embeddings.cls_token" shape:"1,1,d_model"`
	PatchW *Param     `st:"vit.embeddings.patch_embeddings.projection.weight" shape:"d_model,channels,patch,patch"`
	PatchB *Param     `st:"vit.embeddings.patch_embeddings.projection.bias" shape:"d_model"`
	Pos    *Param     `st:"vit.embeddings.position_embeddings" shape:"1,max_pos,d_model"`
	Layers []vitLayer `st:"vit.encoder.layer"`
	LnW    *Param     `st:"vit.layernorm.weight" shape:"d_model"`
	LnB    *Param     `st:"vit.layernorm.bias" shape:"d_model"`
	ClsW   *Param     `st:"classifier.weight" shape:"d_vocab,d_model"`
	ClsB   *Param     `st:"classifier.bias" shape:"d_vocab"`
}

type vitLayer struct {
	Ln1W *Param `st:"layernorm_before.weight" shape:"d_model"`
	Ln1B *Param `st:"layernorm_before.bias" shape:"d_model"`
	Q    *Param `st:"attention.attention.query.weight" shape:"q_dim,d_model"`
	QB   *Param `st:"attention.attention.query.bias" shape:"q_dim" if:"attn_bias"`
	K    *Param `st:"attention.attention.key.weight" shape:"kv_dim,d_model"`
	KB   *Param `st:"attention.attention.key.bias" shape:"kv_dim" if:"attn_bias"`
	V    *Param `st:"attention.attention.value.weight" shape:"kv_dim,d_model"`
	VB   *Param `st:"attention.attention.value.bias" shape:"kv_dim" if:"attn_bias"`
	O    *Param `st:"attention.output.dense.weight" shape:"d_model,q_dim"`
	OB   *Param `st:"attention.output.dense.bias" shape:"d_model"`
	Ln2W *Param `st:"layernorm_after.weight" shape:"d_model"`
	Ln2B *Param `st:"layernorm_after.bias" shape:"d_model"`
	In   *Param `st:"intermediate.dense.weight" shape:"d_mlp,d_model"`
	InB  *Param `st:"intermediate.dense.bias" shape:"d_mlp"`
	Out  *Param `st:"output.dense.weight" shape:"d_model,d_mlp"`
	OutB *Param `st:"output.dense.bias" shape:"d_model"`
}

// vit runs its blocks as llama's block (llama.go) with LayerNorm biases and an ungated MLP:
// the same computation, with the ViT weights mapped onto it.
type vit struct {
	llama
	w     vitWeights
	patch *Param // PatchW viewed as nn.Linear [d_model, channels·patch·patch]
}

func init() {
	register("vit", arch{parse: parseViT, build: buildViT})
}

func parseViT(r *cfgReader, c *Config) {
	c.NLayers = r.int("num_hidden_layers", -1)
	c.DModel = r.int("hidden_size", -1)
	c.DMLP = r.int("intermediate_size", -1)
	c.NHeads = r.int("num_attention_heads", -1)
	c.NKVHeads = c.NHeads
	c.NormEps = r.float("layer_norm_eps", 1e-12, false)
	c.Act = r.str("hidden_act", "gelu")
	checkAct(r, c)
	c.ImageSize = r.int("image_size", 224)
	c.PatchSize = r.int("patch_size", 16)
	c.Channels = r.int("num_channels", 3)
	if c.NHeads > 0 {
		c.DHead = c.DModel / c.NHeads
		if c.DHead*c.NHeads != c.DModel {
			r.fail("hidden_size %d is not divisible by num_attention_heads %d", c.DModel, c.NHeads)
		}
	}
	if c.PatchSize <= 0 || c.ImageSize <= 0 || c.ImageSize%c.PatchSize != 0 {
		r.fail("image_size %d is not a positive multiple of patch_size %d", c.ImageSize, c.PatchSize)
	} else {
		side := c.ImageSize / c.PatchSize
		c.MaxPos = side*side + 1
	}
	if c.Channels <= 0 {
		r.fail("num_channels must be positive, got %d", c.Channels)
	}
	c.Labels = parseLabels(r)
	c.DVocab = len(c.Labels)
	if n := r.int("num_labels", 0); n > 0 && c.DVocab == 0 {
		c.DVocab, c.Labels = n, make([]string, n)
	}
	c.LayerNorm, c.LearnedPos, c.Bidirectional = true, true, true
	c.AttnBias = r.bool("qkv_bias", true)
	c.AttnOutBias, c.MLPBias = true, true
	// The pooler is not part of ViTForImageClassification; encoder_stride serves masked image
	// modelling.
	r.ignore("pooler_act", "pooler_output_size", "encoder_stride", "label2id")
}

// parseLabels reads id2label ({"0": "cat", …}) into a slice by class id.
func parseLabels(r *cfgReader) []string {
	v, ok := r.get("id2label")
	if !ok {
		return nil
	}
	var m map[string]string
	if err := json.Unmarshal(v, &m); err != nil {
		r.fail("key \"id2label\" must map class ids to names, got %s", v)
		return nil
	}
	out := make([]string, len(m))
	for k, name := range m {
		var id int
		if _, err := fmt.Sscan(k, &id); err != nil || id < 0 || id >= len(m) || fmt.Sprint(id) != k {
			r.fail("id2label key %q is not a class id in [0, %d)", k, len(m))
			return nil
		}
		out[id] = name
	}
	return out
}

func buildViT(c *Config, ld *loader) (network, error) {
	m := &vit{}
	if err := ld.fillPrefixed(&m.w, ""); err != nil {
		return nil, err
	}
	w := &m.w
	m.patch = &Param{Name: w.PatchW.Name, Shape: []int{c.DModel, c.Channels * c.PatchSize * c.PatchSize}, Data: w.PatchW.Data}
	m.Layers = make([]llamaLayer, len(w.Layers))
	for l, v := range w.Layers {
		m.Layers[l] = llamaLayer{InNorm: v.Ln1W, InNormB: v.Ln1B, PostNorm: v.Ln2W, PostNormB: v.Ln2B,
			llamaAttn: llamaAttn{Q: v.Q, QB: v.QB, K: v.K, KB: v.KB, V: v.V, VB: v.VB, O: v.O, OB: v.OB},
			Gate:      v.In, GateB: v.InB, Down: v.Out, DownB: v.OutB}
	}
	return m, nil
}

// embed writes [CLS; patch projections] (hook_embed) plus the position embeddings
// (hook_pos_embed) into r.x from the run's pixels [batch, channels, size, size].
func (m *vit) embed(r *run) {
	c := r.c
	d, t := c.DModel, r.t
	P, side, C := c.PatchSize, c.ImageSize/c.PatchSize, c.Channels
	cols := make([]float32, r.b*(t-1)*C*P*P) // im2col rows: [batch·patches, C·P·P], in the weight's (c, ky, kx) order
	for bi := 0; bi < r.b; bi++ {
		img := r.pixels[bi*C*c.ImageSize*c.ImageSize:]
		for p := 0; p < t-1; p++ {
			row, col := p/side, p%side
			dst := cols[(bi*(t-1)+p)*C*P*P:]
			for ch := 0; ch < C; ch++ {
				for ky := 0; ky < P; ky++ {
					src := img[(ch*c.ImageSize+row*P+ky)*c.ImageSize+col*P:]
					copy(dst[(ch*P+ky)*P:(ch*P+ky+1)*P], src[:P])
				}
			}
		}
	}
	proj := make([]float32, r.b*(t-1)*d)
	linearForward(proj, cols, m.patch, m.w.PatchB, r.b*(t-1))
	for bi := 0; bi < r.b; bi++ {
		copy(r.x[bi*t*d:(bi*t+1)*d], m.w.CLS.Data)
		copy(r.x[(bi*t+1)*d:(bi+1)*t*d], proj[bi*(t-1)*d:(bi+1)*(t-1)*d])
	}
	r.fire(hooks.Global(hooks.Embed), r.x, d)
	pe := r.h // scratch: position embeddings [n, d_model]
	embedForward(pe, m.w.Pos.Data, r.pos, 0, c.MaxPos, d)
	r.fire(hooks.Global(hooks.PosEmbed), pe, d)
	addTo(r.x, pe)
}

// embedBackward emits the gradients at hook_embed and hook_pos_embed (the residual gradient);
// weight gradients of an image model are refused before the pass (WeightGradients).
func (m *vit) embedBackward(k *back) {
	d := k.r.c.DModel
	k.emit(hooks.Global(hooks.Embed), k.dx, d)
	k.emit(hooks.Global(hooks.PosEmbed), k.dx, d)
}

func (m *vit) finalNorm() (w, b *Param) { return m.w.LnW, m.w.LnB }
func (m *vit) unembedding() *Param      { return m.w.ClsW }
func (m *vit) unembeddingBias() *Param  { return m.w.ClsB }

func (m *vit) globalAliases() map[string]hooks.Site {
	return map[string]hooks.Site{
		"vit.layernorm:output": hooks.FinalOutput,
		"classifier:input":     hooks.FinalOutput,
	}
}

func (m *vit) aliases(l int) map[string]hooks.Site {
	p := "vit.encoder.layer." + itoa(l)
	return map[string]hooks.Site{
		p + ":input":                            hooks.ResidPre,
		p + ".attention.attention.query:output": hooks.AttnQ,
		p + ".attention.attention.key:output":   hooks.AttnK,
		p + ".attention.attention.value:output": hooks.AttnV,
		p + ".attention.output.dense:input":     hooks.AttnZ,
		p + ".attention.output.dense:output":    hooks.AttnOut,
		p + ".intermediate.dense:output":        hooks.MLPPre,
		p + ".intermediate:output":              hooks.MLPPost,
		p + ".output.dense:input":               hooks.MLPPost,
		p + ".output.dense:output":              hooks.MLPOut,
		p + ":output":                           hooks.ResidPost,
	}
}

// biasedHead is a network whose unembedding has a bias (ViT's classifier).
type biasedHead interface{ unembeddingBias() *Param }

// unembedBias returns the unembedding's bias, or nil.
func (m *Model) unembedBias() *Param {
	if h, ok := m.net.(biasedHead); ok {
		return h.unembeddingBias()
	}
	return nil
}

// imageBatch checks pixels [batch, channels, image_size, image_size] against an image model and
// returns the token batch it runs as: batch rows of T = patches + 1 tokens, all real.
func (m *Model) imageBatch(pixels *tensor.Tensor) (Batch, error) {
	c := m.Config
	if !c.ImageModel() {
		return Batch{}, fmt.Errorf("%s is a language model (model_type %s): give token ids, not images", m.Dir, c.ModelType)
	}
	if pixels == nil {
		return Batch{}, fmt.Errorf("no pixel values given")
	}
	want := []int{-1, c.Channels, c.ImageSize, c.ImageSize}
	if len(pixels.Shape) != 4 || pixels.Shape[0] < 1 || pixels.Shape[1] != want[1] || pixels.Shape[2] != want[2] || pixels.Shape[3] != want[3] ||
		len(pixels.Data) != tensor.Numel(pixels.Shape) {
		return Batch{}, fmt.Errorf("pixel values have shape %v; the model takes [batch, %d, %d, %d] (channels, height, width)",
			pixels.Shape, c.Channels, c.ImageSize, c.ImageSize)
	}
	n := pixels.Shape[0]
	b := Batch{Size: n, Len: c.MaxPos, IDs: make([]int, n*c.MaxPos), Mask: make([]bool, n*c.MaxPos)}
	for i := range b.Mask {
		b.Mask[i] = true
	}
	return b, nil
}

// ForwardImages runs a batch of images, pixels [batch, channels, image_size, image_size] as
// vision.Processor makes them, through an image classifier (ViT), firing the hooks the options
// ask for. Result.Logits are the class logits [batch, n_classes] (classifier on the CLS token);
// captured activations are [batch, tokens, ...] with token 0 the CLS token and token 1 + i
// patch i in raster order.
func (m *Model) ForwardImages(pixels *tensor.Tensor, opts ...hooks.Option) (*Result, error) {
	b, err := m.imageBatch(pixels)
	if err != nil {
		return nil, err
	}
	call, err := hooks.NewCall(m.catalog, opts...)
	if err != nil {
		return nil, err
	}
	logits, err := m.forward(b, m.NewKVCache(b.Size, b.Len), call, pixels.Data)
	if err != nil {
		return nil, err
	}
	if err := call.Check(); err != nil {
		return nil, err
	}
	return &Result{Logits: tensor.From(logits, b.Size, m.Config.DVocab), Cache: call.Cache(), Fired: call.Fired()}, nil
}

// GradientImages is Gradient for an image classifier: metric reads the class logits of batch
// row Row at position 0 (the CLS token), e.g. Prob(row, 0, class) (or AllRows), and the
// gradients are [batch, tokens, ...] like the activations.
func (m *Model) GradientImages(pixels *tensor.Tensor, metric Metric, wrt []hooks.Point, opts ...hooks.Option) (*GradResult, error) {
	b, err := m.imageBatch(pixels)
	if err != nil {
		return nil, err
	}
	if metric.Pos != 0 {
		return nil, fmt.Errorf("%v: an image classifier's logits are at position 0 (the CLS token)", metric)
	}
	return m.gradientFrom(Start{}, b, metric, wrt, pixels.Data, opts...)
}

// GradientImagesFrom is GradientImages starting at s: blocks s.Layer.. run on s.Resid, the
// residual stream entering block s.Layer of each image, [batch, tokens, d_model] (e.g.
// blocks.L.hook_resid_pre captured in a clean ForwardImages), and nothing below runs, so
// attributing layer L of an image runs only layers >= L. s.Resid is required (start at the
// pixels with GradientImages); an image has no earlier positions, so s.KV must be nil.
func (m *Model) GradientImagesFrom(s Start, metric Metric, wrt []hooks.Point, opts ...hooks.Option) (*GradResult, error) {
	c := m.Config
	if !c.ImageModel() {
		return nil, fmt.Errorf("%s is a language model (model_type %s): use GradientFrom", m.Dir, c.ModelType)
	}
	if s.Resid == nil || len(s.Resid.Shape) != 3 || s.Resid.Shape[0] < 1 || s.Resid.Shape[1] != c.MaxPos {
		shape := []int(nil)
		if s.Resid != nil {
			shape = s.Resid.Shape
		}
		return nil, fmt.Errorf("GradientImagesFrom needs the residual stream [batch, %d, %d] of the images, got shape %v", c.MaxPos, c.DModel, shape)
	}
	if s.KV != nil {
		return nil, fmt.Errorf("GradientImagesFrom: an image has no earlier positions to continue (Start.KV must be nil)")
	}
	if metric.Pos != 0 {
		return nil, fmt.Errorf("%v: an image classifier's logits are at position 0 (the CLS token)", metric)
	}
	n := s.Resid.Shape[0]
	b := Batch{Size: n, Len: c.MaxPos, IDs: make([]int, n*c.MaxPos), Mask: make([]bool, n*c.MaxPos)}
	for i := range b.Mask {
		b.Mask[i] = true
	}
	return m.gradientFrom(s, b, metric, wrt, nil, opts...)
}
