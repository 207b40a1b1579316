package language

import (
	"bufio"
	"bytes"
	"encoding/gob"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/internal/atomicfile"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/tensor"
)

// Item is one document of one group in a counting pass. In response-only counting Prefix is
// the document's prompt: the text the counts of which are subtracted (Doc.Text starts with it).
type Item struct {
	Group  int
	Doc    corpus.Document
	Prefix string
}

// Items is a stream of items in a fixed order (a resumed pass relies on the order).
type Items func(yield func(Item) error) error

// DefaultTap is the tap point LAPE counts on a model: mlp.hook_pre (the gate pre-activation;
// silu(gate) > 0 exactly when gate > 0) for gated MLPs, mlp.hook_post (the activation output)
// for GPT-2, NeoX and other ungated MLPs.
func DefaultTap(cat hooks.Catalog) hooks.Site {
	if cat.Has(hooks.At(0, hooks.MLPPreLinear)) {
		return hooks.MLPPre
	}
	return hooks.MLPPost
}

// PassOptions configure Counter.Run.
type PassOptions struct {
	// Tap is the site counted at every layer (see DefaultTap).
	Tap hooks.Site
	// Ctx is the longest context: documents are cut into contexts of at most Ctx tokens
	// (corpus.Contexts). With Response or Pool, every document must fit in one context.
	Ctx int
	// Batch is the number of contexts per forward pass (0: 8); PadID fills pad slots.
	Batch, PadID int
	// Pool, if set, receives every document's mean-pooled response at the tap, in item order.
	Pool func(Pooled) error
	// AfterBatch, if set, runs after every batch (progress, checkpoints); its error ends the
	// pass and is returned.
	AfterBatch func(c *Counter) error
}

// Pooled is one document's mean-pooled response: Mean[l·width + i] is the mean over the
// document's tokens (every real position, BOS included when the encoding has one) of neuron i
// of layer l at the tap, [layers, width] row-major, summed in float64. Mean belongs to the
// receiver.
type Pooled struct {
	Item  int64 // the document's ordinal in the item stream
	Group int
	Doc   corpus.Document
	Mean  []float32
}

// Counter is the state of a counting pass: Full counts every token of every group; in
// response-only counting, Prefix counts the tokens of the prompts, so that
// ResponseProbabilities(Full, Prefix) is the alignment paper's full − prefix. Contexts and
// Batches say how much of the stream is done (a resumed pass skips that many contexts).
type Counter struct {
	Full     *Counts
	Prefix   *Counts
	Contexts int64
	Batches  int64
}

// NewCounter returns a zeroed counter for the groups at a tap point with layers × width
// neurons; response adds the prefix counts.
func NewCounter(groups []string, tap string, layers, width int, response bool) (*Counter, error) {
	full, err := NewCounts(groups, tap, layers, width)
	if err != nil {
		return nil, err
	}
	c := &Counter{Full: full}
	if response {
		c.Prefix, _ = NewCounts(groups, tap, layers, width)
	}
	return c, nil
}

// Probabilities turns the counts into activation probabilities: Full's (LAPE) or, in
// response-only counting, ResponseProbabilities(Full, Prefix).
func (c *Counter) Probabilities() (*Probabilities, error) {
	if c.Prefix != nil {
		return ResponseProbabilities(c.Full, c.Prefix)
	}
	return c.Full.Probabilities()
}

// Merge adds the counts of a pass over other data (another worker's shard): exact, since the
// counts are integers. Groups, tap, shape and counting mode must match.
func (c *Counter) Merge(o *Counter) error {
	if (c.Prefix == nil) != (o.Prefix == nil) {
		return fmt.Errorf("one counter counts response tokens only and the other all tokens")
	}
	if err := c.Full.Merge(o.Full); err != nil {
		return err
	}
	if c.Prefix != nil {
		if err := c.Prefix.Merge(o.Prefix); err != nil {
			return err
		}
	}
	c.Contexts += o.Contexts
	c.Batches += o.Batches
	return nil
}

// rowRole says what a context is in a counting pass.
type rowRole uint8

const (
	roleFull   rowRole = iota // a document (its first prefix positions are also prompt tokens)
	rolePrefix                // a prompt run alone: its encoding is not a prefix of the document's
)

// rowMeta is what the observer needs to know about one context of the stream.
type rowMeta struct {
	group  int
	role   rowRole
	prefix int // roleFull: the number of leading prompt tokens
	item   int64
	doc    corpus.Document
}

// Run counts, for every layer's neuron at opt.Tap and every group, the tokens where the
// activation is > 0 and the tokens seen, streaming the items through the model in batches
// (corpus.Run, observing without copying). Padding is never counted. In response-only counting
// (c.Prefix set) every item needs a Prefix that its text starts with: when the prompt's
// encoding is a prefix of the document's, its counts are taken from the document's first
// positions (the model is causal, so they are the prompt's own activations); otherwise the
// prompt runs as a row of its own, as the published code runs every prompt. Contexts already
// counted (c.Contexts, after LoadCounter) are skipped.
func (c *Counter) Run(m *model.Model, enc corpus.Encoder, items Items, opt PassOptions) error {
	cat := m.Catalog()
	tap := hooks.At(0, opt.Tap)
	if !cat.Has(tap) {
		return fmt.Errorf("the model has no %s", opt.Tap)
	}
	if w := cat.Width(tap); w != c.Full.Width || m.Config.NLayers != c.Full.Layers || opt.Tap.String() != c.Full.Tap {
		return fmt.Errorf("the counter is for %s [%d layers, %d neurons], the model has %s [%d, %d]",
			c.Full.Tap, c.Full.Layers, c.Full.Width, opt.Tap, m.Config.NLayers, w)
	}
	if opt.Ctx < 2 {
		return fmt.Errorf("contexts of %d tokens: want at least 2", opt.Ctx)
	}
	whole := c.Prefix != nil || opt.Pool != nil
	meta := map[int64]rowMeta{}
	skip := c.Contexts
	contexts := func(yield func(corpus.Context) error) error {
		var index, ordinal int64
		return items(func(it Item) error {
			if it.Group < 0 || it.Group >= len(c.Full.Groups) {
				return &corpus.InputError{Path: it.Doc.Source, Line: it.Doc.Line, Err: fmt.Errorf("group %d of %d", it.Group, len(c.Full.Groups))}
			}
			var rows []corpus.Context
			err := corpus.Contexts(func(y func(corpus.Document) error) error { return y(it.Doc) }, enc,
				corpus.ContextOptions{Ctx: opt.Ctx}, func(ctx corpus.Context) error {
					rows = append(rows, ctx)
					return nil
				})
			if err != nil {
				return err
			}
			if whole && len(rows) > 1 {
				return &corpus.InputError{Path: it.Doc.Source, Line: it.Doc.Line,
					Err: fmt.Errorf("the document does not fit one context of %d tokens (response-only counting and pooling need whole documents)", opt.Ctx)}
			}
			var prefix []int
			if c.Prefix != nil {
				if prefix, err = encodePrefix(enc, it); err != nil {
					return err
				}
			}
			item := ordinal
			ordinal++
			for k, row := range rows {
				row.Index = index
				index++
				md := rowMeta{group: it.Group, item: item, doc: it.Doc}
				if k == 0 && prefix != nil && len(prefix) <= len(row.IDs) && slices.Equal(prefix, row.IDs[:len(prefix)]) {
					md.prefix = len(prefix)
					prefix = nil
				}
				if row.Index >= skip {
					meta[row.Index] = md
				}
				if err := yield(row); err != nil {
					return err
				}
			}
			if prefix != nil {
				row := corpus.Context{IDs: prefix, Doc: rows[0].Doc, Index: index}
				index++
				if row.Index >= skip {
					meta[row.Index] = rowMeta{group: it.Group, role: rolePrefix, item: -1}
				}
				return yield(row)
			}
			return nil
		})
	}
	L, W := c.Full.Layers, c.Full.Width
	var pooled map[int64][]float64 // item → Σ over its positions, [layers, width]
	if opt.Pool != nil {
		pooled = map[int64][]float64{}
	}
	observe := func(b *corpus.Batch) hooks.Func {
		return func(pt hooks.Point, a *tensor.Tensor) error {
			t := a.Shape[1]
			for r, row := range b.Contexts {
				md, n := meta[row.Index], len(row.IDs)
				acts := a.Data[r*t*W : (r*t+n)*W]
				switch md.role {
				case roleFull:
					c.Full.AddLayer(md.group, pt.Layer, acts, n)
					if md.prefix > 0 {
						c.Prefix.AddLayer(md.group, pt.Layer, acts[:md.prefix*W], md.prefix)
					}
					if pooled != nil {
						sum := pooled[md.item]
						if sum == nil {
							sum = make([]float64, L*W)
							pooled[md.item] = sum
						}
						dst := sum[pt.Layer*W : (pt.Layer+1)*W]
						for p := range n {
							for i, v := range acts[p*W : (p+1)*W] {
								dst[i] += float64(v)
							}
						}
					}
				case rolePrefix:
					c.Prefix.AddLayer(md.group, pt.Layer, acts, n)
				}
			}
			return nil
		}
	}
	pattern := "blocks.*." + opt.Tap.String()
	return corpus.Run(m, contexts, corpus.RunOptions{Batch: opt.Batch, PadID: opt.PadID, Skip: skip,
		Hooks: func(b *corpus.Batch) []hooks.Option { return []hooks.Option{hooks.Observe(pattern, observe(b))} },
		After: func(b *corpus.Batch) error {
			for _, row := range b.Contexts {
				md, n := meta[row.Index], int64(len(row.IDs))
				delete(meta, row.Index)
				switch md.role {
				case roleFull:
					c.Full.AddTokens(md.group, n)
					if md.prefix > 0 {
						c.Prefix.AddTokens(md.group, int64(md.prefix))
					}
					if sum := pooled[md.item]; sum != nil {
						delete(pooled, md.item)
						mean := make([]float32, len(sum))
						for i, s := range sum {
							mean[i] = float32(s / float64(n))
						}
						if err := opt.Pool(Pooled{Item: md.item, Group: md.group, Doc: md.doc, Mean: mean}); err != nil {
							return err
						}
					}
				case rolePrefix:
					c.Prefix.AddTokens(md.group, n)
				}
			}
			c.Contexts += int64(len(b.Contexts))
			c.Batches++
			if opt.AfterBatch != nil {
				return opt.AfterBatch(c)
			}
			return nil
		}})
}

// encodePrefix encodes an item's prompt under the encoder's BOS policy; the document must be
// text starting with it.
func encodePrefix(enc corpus.Encoder, it Item) ([]int, error) {
	bad := func(format string, a ...any) error {
		return &corpus.InputError{Path: it.Doc.Source, Line: it.Doc.Line, Err: fmt.Errorf(format, a...)}
	}
	if it.Doc.HasIDs {
		return nil, bad("response-only counting needs text documents with a prompt, not token ids")
	}
	if it.Prefix == "" {
		return nil, bad("response-only counting needs the document's prompt (an empty prompt leaves nothing to subtract)")
	}
	if len(it.Prefix) > len(it.Doc.Text) || it.Doc.Text[:len(it.Prefix)] != it.Prefix {
		return nil, bad("the text does not start with its prompt %q", it.Prefix)
	}
	ids, err := enc.Encode(corpus.Document{Text: it.Prefix, Source: it.Doc.Source, Line: it.Doc.Line})
	if err != nil {
		return nil, bad("prompt: %v", err)
	}
	return ids, nil
}

// Scan reads the items without a model: per group, the number of tokens the pass will count
// (Full) and of prompt tokens (response-only), and the number of contexts; it checks every
// document's encoding and, with whole (response-only counting or pooling), that every document
// fits one context of ctx tokens and its prompt is a prefix of its text. An error names the
// file and line; a group without tokens is an error naming the group. It is the pass's total
// for a progress bar and its input check before any forward.
func Scan(enc corpus.Encoder, items Items, groups []string, ctx int, response, whole bool) (tokens []int64, contexts int64, err error) {
	tokens = make([]int64, len(groups))
	docs := make([]int64, len(groups))
	err = items(func(it Item) error {
		if it.Group < 0 || it.Group >= len(groups) {
			return &corpus.InputError{Path: it.Doc.Source, Line: it.Doc.Line, Err: fmt.Errorf("group %d of %d", it.Group, len(groups))}
		}
		var n, rows int
		err := corpus.Contexts(func(y func(corpus.Document) error) error { return y(it.Doc) }, enc,
			corpus.ContextOptions{Ctx: ctx}, func(c corpus.Context) error {
				n += len(c.IDs)
				rows++
				return nil
			})
		if err != nil {
			return err
		}
		if (whole || response) && rows > 1 {
			return &corpus.InputError{Path: it.Doc.Source, Line: it.Doc.Line,
				Err: fmt.Errorf("%d tokens do not fit one context of %d (response-only counting and pooling need whole documents)", n, ctx)}
		}
		if response {
			if _, err := encodePrefix(enc, it); err != nil {
				return err
			}
		}
		tokens[it.Group] += int64(n)
		docs[it.Group]++
		contexts += int64(rows)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	for g, n := range tokens {
		if n == 0 {
			return nil, 0, &EmptyGroupError{Group: groups[g], Documents: docs[g]}
		}
	}
	return tokens, contexts, nil
}

// EmptyGroupError is a group with no tokens to count.
type EmptyGroupError struct {
	Group     string
	Documents int64
}

func (e *EmptyGroupError) Error() string {
	return fmt.Sprintf("group %q has no tokens (%d documents)", e.Group, e.Documents)
}

// counterCheckpoint is what Counter.Save writes (gob, through a temp file and a rename).
type counterCheckpoint struct {
	Format      string
	Fingerprint string
	Full        *Counts
	Prefix      *Counts
	Contexts    int64
	Batches     int64
}

const counterFormat = "neuronscope.language.counter/v1"

// Save writes the counter to path atomically (temp file, fsync, rename) with the caller's
// fingerprint of the pass's settings; LoadCounter reads it back for a resumed pass.
func (c *Counter) Save(path, fingerprint string) error {
	return atomicfile.Write(path, func(w *bufio.Writer) error {
		return gob.NewEncoder(w).Encode(counterCheckpoint{Format: counterFormat, Fingerprint: fingerprint,
			Full: c.Full, Prefix: c.Prefix, Contexts: c.Contexts, Batches: c.Batches})
	})
}

// LoadCounter reads a counter written by Save; the fingerprint must match.
func LoadCounter(path, fingerprint string) (*Counter, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	c, err := decodeCounter(bufio.NewReader(f), fingerprint)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return c, nil
}

func decodeCounter(r io.Reader, fingerprint string) (*Counter, error) {
	var ck counterCheckpoint
	if err := gob.NewDecoder(r).Decode(&ck); err != nil {
		return nil, fmt.Errorf("not a counting checkpoint: %v", err)
	}
	if ck.Format != counterFormat {
		return nil, fmt.Errorf("checkpoint format %q, want %q", ck.Format, counterFormat)
	}
	if ck.Fingerprint != fingerprint {
		return nil, fmt.Errorf("the checkpoint was written by a pass with other settings")
	}
	if ck.Full == nil || checkGroups(ck.Full.Groups) != nil || ck.Full.Layers < 1 || ck.Full.Width < 1 ||
		len(ck.Full.Positive) != len(ck.Full.Groups)*ck.Full.Layers*ck.Full.Width || len(ck.Full.Tokens) != len(ck.Full.Groups) ||
		(ck.Prefix != nil && (ck.Full.sameShape(ck.Prefix) != nil || len(ck.Prefix.Positive) != len(ck.Full.Positive) || len(ck.Prefix.Tokens) != len(ck.Full.Tokens))) {
		return nil, fmt.Errorf("inconsistent counting checkpoint")
	}
	return &Counter{Full: ck.Full, Prefix: ck.Prefix, Contexts: ck.Contexts, Batches: ck.Batches}, nil
}

// MarshalBinary encodes the counter (as Save writes it, without a fingerprint): the form in
// which a distributed pass moves partial counts between workers.
func (c *Counter) MarshalBinary() ([]byte, error) {
	var b bytes.Buffer
	err := gob.NewEncoder(&b).Encode(counterCheckpoint{Format: counterFormat, Full: c.Full, Prefix: c.Prefix, Contexts: c.Contexts, Batches: c.Batches})
	return b.Bytes(), err
}

// UnmarshalCounter decodes what MarshalBinary wrote, checking the shapes.
func UnmarshalCounter(data []byte) (*Counter, error) {
	return decodeCounter(bytes.NewReader(data), "")
}
