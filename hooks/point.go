package hooks

import (
	"fmt"
	"strconv"
	"strings"
)

// Site is where in a transformer block (or around the stack) a hook point sits.
type Site uint8

// The hook sites, in the order a block computes them. Per-layer sites (ResidPre through
// ResidPost) carry a layer index; the others have Layer == -1. Every site's activation is a
// [batch, pos, ...] tensor except AttnScores and AttnPattern, which are
// [batch, n_heads, query_pos, key_pos] as in TransformerLens (see PerPosition).
const (
	Embed           Site = iota // hook_embed: token embedding [batch, pos, d_model] (Gemma: already scaled by sqrt(d_model); BLOOM: after its embedding LayerNorm; ViT: [CLS; patch projections])
	PosEmbed                    // hook_pos_embed: learned position embedding [batch, pos, d_model] (GPT-2, ViT)
	ResidPre                    // blocks.L.hook_resid_pre [batch, pos, d_model]
	LN1Scale                    // blocks.L.ln1.hook_scale [batch, pos, 1]: divisor of the attention input norm
	LN1Normalized               // blocks.L.ln1.hook_normalized [batch, pos, d_model]: normalized, before the norm's weight/bias
	AttnQ                       // blocks.L.attn.hook_q [batch, pos, n_heads, d_head]: query projection (before q_norm and RoPE)
	AttnK                       // blocks.L.attn.hook_k [batch, pos, n_kv_heads, d_head]: key projection (before k_norm and RoPE)
	AttnV                       // blocks.L.attn.hook_v [batch, pos, n_kv_heads, d_head]: value projection
	AttnRotQ                    // blocks.L.attn.hook_rot_q [batch, pos, n_heads, d_head]: queries after q_norm and RoPE (rotary models)
	AttnRotK                    // blocks.L.attn.hook_rot_k [batch, pos, n_kv_heads, d_head]: keys after k_norm and RoPE (rotary models)
	AttnScores                  // blocks.L.attn.hook_attn_scores [batch, n_heads, query_pos, key_pos]: scaled (soft-capped, ALiBi-biased) scores, -Inf where masked
	AttnPattern                 // blocks.L.attn.hook_pattern [batch, n_heads, query_pos, key_pos]: softmax of the scores
	AttnZ                       // blocks.L.attn.hook_z [batch, pos, n_heads, d_head], before the output projection
	AttnResult                  // blocks.L.attn.hook_result [batch, pos, n_heads, d_model]: each head's share of the output projection (computed only when asked)
	AttnOut                     // blocks.L.hook_attn_out [batch, pos, d_model]
	ResidMid                    // blocks.L.hook_resid_mid [batch, pos, d_model] (absent with parallel residual)
	LN2Scale                    // blocks.L.ln2.hook_scale [batch, pos, 1]: divisor of the MLP input norm
	LN2Normalized               // blocks.L.ln2.hook_normalized [batch, pos, d_model]
	MLPPre                      // blocks.L.mlp.hook_pre [batch, pos, d_mlp]: gate pre-activation (gated) or W_in output
	MLPPreLinear                // blocks.L.mlp.hook_pre_linear [batch, pos, d_mlp]: up projection (gated MLPs only)
	MLPPost                     // blocks.L.mlp.hook_post [batch, pos, d_mlp]: input of the MLP output projection ("the neuron")
	MLPOut                      // blocks.L.hook_mlp_out [batch, pos, d_model]
	ResidPost                   // blocks.L.hook_resid_post [batch, pos, d_model]
	FinalScale                  // ln_final.hook_scale [batch, pos, 1]: the norm's divisor sqrt(var+eps) or sqrt(mean(x²)+eps)
	FinalNormalized             // ln_final.hook_normalized [batch, pos, d_model]: normalized, before the norm weight/bias
	FinalOutput                 // ln_final.output [batch, pos, d_model]: full final-norm output (neuronscope extension, not a TL name)
	// Units of a decomposition of mlp.hook_post, named like hook points so that neuron sets,
	// labels and profiles name them as they name neurons. No model's catalog holds them: the
	// decomposition computes them from their base point (Site.Base).
	MLPPostSNMF // blocks.L.mlp.hook_post.snmf [batch, pos, rank]: SNMF features, a feature's activation its non-negative coefficient with F fixed (package decompose)
	MLPPostSAE  // blocks.L.mlp.hook_post.sae.hook_sae_acts_post [batch, pos, d_sae]: latents of an SAE at mlp.hook_post (package sae; SAELens's name)
	numSites
)

var siteNames = [numSites]string{
	Embed:           "hook_embed",
	PosEmbed:        "hook_pos_embed",
	ResidPre:        "hook_resid_pre",
	LN1Scale:        "ln1.hook_scale",
	LN1Normalized:   "ln1.hook_normalized",
	AttnQ:           "attn.hook_q",
	AttnK:           "attn.hook_k",
	AttnV:           "attn.hook_v",
	AttnRotQ:        "attn.hook_rot_q",
	AttnRotK:        "attn.hook_rot_k",
	AttnScores:      "attn.hook_attn_scores",
	AttnPattern:     "attn.hook_pattern",
	AttnZ:           "attn.hook_z",
	AttnResult:      "attn.hook_result",
	AttnOut:         "hook_attn_out",
	ResidMid:        "hook_resid_mid",
	LN2Scale:        "ln2.hook_scale",
	LN2Normalized:   "ln2.hook_normalized",
	MLPPre:          "mlp.hook_pre",
	MLPPreLinear:    "mlp.hook_pre_linear",
	MLPPost:         "mlp.hook_post",
	MLPOut:          "hook_mlp_out",
	ResidPost:       "hook_resid_post",
	FinalScale:      "ln_final.hook_scale",
	FinalNormalized: "ln_final.hook_normalized",
	FinalOutput:     "ln_final.output",
	MLPPostSNMF:     "mlp.hook_post.snmf",
	MLPPostSAE:      "mlp.hook_post.sae.hook_sae_acts_post",
}

// PerLayer reports whether the site exists once per transformer block (decomposition units
// included).
func (s Site) PerLayer() bool { return s >= ResidPre && s <= ResidPost || s.IsUnits() }

// IsUnits reports whether the site names a decomposition's units (MLPPostSNMF, MLPPostSAE)
// rather than a model activation.
func (s Site) IsUnits() bool { return s == MLPPostSNMF || s == MLPPostSAE }

// Base is the model activation a units site is computed from (mlp.hook_post for both), and
// the site itself for any other.
func (s Site) Base() Site {
	if s.IsUnits() {
		return MLPPost
	}
	return s
}

// PerPosition reports whether the site's activation is laid out [batch, pos, ...] (one
// vector per token). It is false only for AttnScores and AttnPattern, whose activations are
// [batch, n_heads, query_pos, key_pos]: code that treats a point as units per position (neuron
// statistics, ablation sets, position-scoped attribution) must refuse them.
func (s Site) PerPosition() bool { return s != AttnScores && s != AttnPattern }

// String is the site's TransformerLens suffix, e.g. "mlp.hook_post".
func (s Site) String() string {
	if s >= numSites {
		return fmt.Sprintf("Site(%d)", s)
	}
	return siteNames[s]
}

// Point is one hook point of a model: a site, and a layer for per-layer sites (-1 otherwise).
// In JSON (inside a Neuron) only the layer appears; the site is the enclosing set's or
// report's tap.
type Point struct {
	Layer int  `json:"layer"`
	Site  Site `json:"-"`
}

// At returns the per-layer point of site s in block l.
func At(l int, s Site) Point {
	if !s.PerLayer() {
		panic("hooks: site " + s.String() + " has no layer")
	}
	return Point{Layer: l, Site: s}
}

// Global returns the point of a site that is not per layer.
func Global(s Site) Point {
	if s.PerLayer() {
		panic("hooks: site " + s.String() + " needs a layer")
	}
	return Point{Layer: -1, Site: s}
}

// String is the exact TransformerLens hook name, e.g. "blocks.3.mlp.hook_post".
func (p Point) String() string {
	if p.Site.PerLayer() {
		return "blocks." + strconv.Itoa(p.Layer) + "." + p.Site.String()
	}
	return p.Site.String()
}

// Parse converts a TransformerLens hook name back into a Point. It also accepts the
// TransformerLens v3 aliases mlp.hook_in (= mlp.hook_pre) and mlp.hook_out (= mlp.hook_post).
func Parse(name string) (Point, error) {
	for s := Site(0); s < numSites; s++ {
		if !s.PerLayer() && name == s.String() {
			return Global(s), nil
		}
	}
	rest, ok := strings.CutPrefix(name, "blocks.")
	if !ok {
		return Point{}, fmt.Errorf("unknown hook name %q", name)
	}
	num, suffix, ok := strings.Cut(rest, ".")
	l, err := strconv.Atoi(num)
	if !ok || err != nil || l < 0 || strconv.Itoa(l) != num {
		return Point{}, fmt.Errorf("unknown hook name %q: expected blocks.<layer>.<site>", name)
	}
	switch suffix {
	case "mlp.hook_in":
		suffix = MLPPre.String()
	case "mlp.hook_out":
		suffix = MLPPost.String()
	}
	for s := ResidPre; s < numSites; s++ {
		if s.PerLayer() && suffix == s.String() {
			return At(l, s), nil
		}
	}
	return Point{}, fmt.Errorf("unknown hook name %q: no site %q", name, suffix)
}

// MarshalText writes the site's TransformerLens suffix ("mlp.hook_post").
func (s Site) MarshalText() ([]byte, error) {
	if s >= numSites {
		return nil, fmt.Errorf("hooks: invalid site %d", s)
	}
	return []byte(s.String()), nil
}

// UnmarshalText reads a site as ParseSite does.
func (s *Site) UnmarshalText(b []byte) error {
	v, err := ParseSite(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// ParseSite reads a per-layer tap point: a TransformerLens site suffix ("mlp.hook_post",
// "hook_resid_mid", the v3 aliases "mlp.hook_in"/"mlp.hook_out") or the same with a
// "blocks.*." or "blocks.L." prefix (the layer is ignored). Global sites (hook_embed, ...) are
// an error: a neuron belongs to a layer.
func ParseSite(s string) (Site, error) {
	s = strings.TrimSpace(s)
	suffix := s
	if rest, ok := strings.CutPrefix(s, "blocks."); ok {
		if _, after, ok := strings.Cut(rest, "."); ok {
			suffix = after
		}
	}
	p, err := Parse("blocks.0." + suffix)
	if err != nil {
		return 0, fmt.Errorf("hook site %q: want a per-layer site such as mlp.hook_post, mlp.hook_pre, hook_resid_post", s)
	}
	return p.Site, nil
}

// Less orders points by layer (global points, layer -1, first), then site.
func (p Point) Less(q Point) bool {
	if p.Layer != q.Layer {
		return p.Layer < q.Layer
	}
	return p.Site < q.Site
}
