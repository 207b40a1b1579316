package language

import (
	"fmt"
	"math"
)

// Counts accumulates what a counting pass sees, per group: on how many tokens each neuron of
// a tap point is > 0, and how many tokens there were. Positive has layout
// [groups, layers, width]; Tokens has one entry per group. A pass calls AddLayer for every
// layer of every batch and AddTokens once per batch; passes over disjoint data (for example
// one per worker) combine with Merge. Counts turns into probabilities with Probabilities
// (LAPE: all tokens) or ResponseProbabilities (alignment: response tokens only).
type Counts struct {
	Groups   []string
	Tap      string
	Layers   int
	Width    int
	Positive []int64 // [groups, layers, width]: tokens with activation > 0
	Tokens   []int64 // [groups]: tokens seen
}

// NewCounts returns zeroed counts for the given groups (at least 2 distinct names without
// commas) at a tap point with layers × width neurons.
func NewCounts(groups []string, tap string, layers, width int) (*Counts, error) {
	if err := checkGroups(groups); err != nil {
		return nil, err
	}
	if layers < 1 || width < 1 {
		return nil, fmt.Errorf("need at least 1 layer and 1 neuron, have layers=%d width=%d", layers, width)
	}
	return &Counts{
		Groups: append([]string(nil), groups...), Tap: tap, Layers: layers, Width: width,
		Positive: make([]int64, len(groups)*layers*width),
		Tokens:   make([]int64, len(groups)),
	}, nil
}

// AddLayer counts, for each neuron of one layer, the rows of acts ([rows, width] row-major:
// the activations of rows real tokens, padding already removed) where the activation is > 0,
// and adds them to group g. NaN is not > 0; +Inf is. It panics if len(acts) is not
// rows·Width or g or layer is out of range (programmer errors).
func (c *Counts) AddLayer(g, layer int, acts []float32, rows int) {
	if g < 0 || g >= len(c.Groups) || layer < 0 || layer >= c.Layers {
		panic(fmt.Sprintf("language: AddLayer group %d layer %d out of range [%d groups, %d layers]", g, layer, len(c.Groups), c.Layers))
	}
	if rows < 0 || len(acts) != rows*c.Width {
		panic(fmt.Sprintf("language: AddLayer got %d activations for %d rows × %d neurons", len(acts), rows, c.Width))
	}
	dst := c.Positive[(g*c.Layers+layer)*c.Width:][:c.Width]
	W := c.Width
	r := 0
	for ; r+4 <= rows; r += 4 {
		countPositive4(dst, acts[r*W:][:W], acts[(r+1)*W:][:W], acts[(r+2)*W:][:W], acts[(r+3)*W:][:W])
	}
	for ; r < rows; r++ {
		countPositive(dst, acts[r*W:][:W])
	}
}

// positive is 1 when x > 0, else 0, without a branch: for the bits b of a float32, x > 0
// exactly when 1 ≤ b ≤ 0x7F800000 as a signed integer (positive normals, subnormals and +Inf;
// not ±0, negatives or NaN), i.e. when uint32(b−1) < 0x7F800000.
func positive(x float32) int64 {
	return int64(uint64(int64(math.Float32bits(x)-1)-0x7F800000) >> 63)
}

// countPositive adds 1 to dst[i] where x[i] > 0.
func countPositive(dst []int64, x []float32) {
	dst = dst[:len(x)]
	for i, v := range x {
		dst[i] += positive(v)
	}
}

// countPositive4 is countPositive for four rows at once (one read-modify-write of dst).
func countPositive4(dst []int64, a, b, c, d []float32) {
	n := len(dst)
	a, b, c, d = a[:n], b[:n], c[:n], d[:n]
	for i := range dst {
		dst[i] += positive(a[i]) + positive(b[i]) + positive(c[i]) + positive(d[i])
	}
}

// AddTokens adds n tokens to group g's token count.
func (c *Counts) AddTokens(g int, n int64) { c.Tokens[g] += n }

// Merge adds o's counts into c. The groups (names and order), tap and shape must match.
func (c *Counts) Merge(o *Counts) error {
	if err := c.sameShape(o); err != nil {
		return err
	}
	for j, v := range o.Positive {
		c.Positive[j] += v
	}
	for g, n := range o.Tokens {
		c.Tokens[g] += n
	}
	return nil
}

func (c *Counts) sameShape(o *Counts) error {
	if len(c.Groups) != len(o.Groups) {
		return fmt.Errorf("groups %q and %q differ", c.Groups, o.Groups)
	}
	for g := range c.Groups {
		if c.Groups[g] != o.Groups[g] {
			return fmt.Errorf("groups %q and %q differ", c.Groups, o.Groups)
		}
	}
	if c.Tap != o.Tap {
		return fmt.Errorf("taps %q and %q differ", c.Tap, o.Tap)
	}
	if c.Layers != o.Layers || c.Width != o.Width {
		return fmt.Errorf("shapes [%d layers, %d neurons] and [%d, %d] differ", c.Layers, c.Width, o.Layers, o.Width)
	}
	return nil
}

// ratio32 is torch's float32 true division of two integer counts: both are rounded to
// float32 first, and the quotient is rounded to float32 (computing it in float64 and rounding
// once gives the same float32, because a float64 quotient of two float32s rounds correctly).
func ratio32(num, den int64) float32 {
	return float32(float64(float32(num)) / float64(float32(den)))
}

// Probabilities returns P = Positive / Tokens per group, as LAPE's identify.py computes it
// from its activation files (over_zero / n with integer tensors: both converted to float32,
// then divided in float32; counts above 2^24 are therefore rounded first). A group with no
// tokens, or a count larger than its group's tokens, is an error.
func (c *Counts) Probabilities() (*Probabilities, error) {
	p := &Probabilities{Groups: append([]string(nil), c.Groups...), Tap: c.Tap, Counting: CountingAll,
		Layers: c.Layers, Width: c.Width, P: make([]float32, len(c.Positive)), Tokens: append([]int64(nil), c.Tokens...)}
	per := c.Layers * c.Width
	for g, n := range c.Tokens {
		if n < 1 {
			return nil, fmt.Errorf("group %q has no tokens", c.Groups[g])
		}
		for j, k := range c.Positive[g*per : (g+1)*per] {
			if k < 0 || k > n {
				return nil, fmt.Errorf("group %q layer %d neuron %d: %d positive tokens of %d", c.Groups[g], j/c.Width, j%c.Width, k, n)
			}
			p.P[g*per+j] = ratio32(k, n)
		}
	}
	return p, nil
}

// ResponseProbabilities returns the response-only probabilities of the alignment paper
// (analysis.py: Neuron_Prob): per group, with full counted over prompt + response and prefix
// over the prompt alone,
//
//	P = max(Positive_full − Positive_prefix, 0) / (Tokens_full − Tokens_prefix)
//
// converted and divided in float32 like the published code. The published code divides by
// max(Tokens_full − Tokens_prefix, 1); a group whose full text has no more tokens than its
// prefix is an error here instead. Because the published token totals come from
// tokenizer.encode while the activation counts come from the model's own forward, values can
// slightly exceed 1 (12 of the 4,587,520 shipped Mistral values do, up to 1.00103); they are
// kept, and Counting is CountingResponse. The groups, tap and shapes of full and prefix must
// match.
func ResponseProbabilities(full, prefix *Counts) (*Probabilities, error) {
	if err := full.sameShape(prefix); err != nil {
		return nil, fmt.Errorf("full and prefix counts: %v", err)
	}
	p := &Probabilities{Groups: append([]string(nil), full.Groups...), Tap: full.Tap, Counting: CountingResponse,
		Layers: full.Layers, Width: full.Width, P: make([]float32, len(full.Positive)), Tokens: make([]int64, len(full.Groups))}
	per := full.Layers * full.Width
	for g := range full.Groups {
		n := full.Tokens[g] - prefix.Tokens[g]
		if n < 1 {
			return nil, fmt.Errorf("group %q: %d full tokens ≤ %d prefix tokens, no response tokens", full.Groups[g], full.Tokens[g], prefix.Tokens[g])
		}
		p.Tokens[g] = n
		for j := g * per; j < (g+1)*per; j++ {
			p.P[j] = ratio32(max(full.Positive[j]-prefix.Positive[j], 0), n)
		}
	}
	return p, nil
}
