package spectra

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/modeltest"
)

// idContexts is a producer of the contexts of n random id documents (lengths 3..40), each
// starting with BOS id 1, cut into contexts of ctx tokens.
func idContexts(n, ctx, vocab int) func(yield func(corpus.Context) error) error {
	rng := rand.New(rand.NewPCG(7, 8))
	var docs []corpus.Document
	for i := range n {
		ids := []int{1}
		for range 2 + rng.IntN(38) {
			ids = append(ids, 2+rng.IntN(vocab-2))
		}
		docs = append(docs, corpus.Document{Ordinal: int64(i), IDs: ids, HasIDs: true})
	}
	enc := corpus.Encoder{BOS: 1, Vocab: vocab}
	return func(yield func(corpus.Context) error) error {
		return corpus.Contexts(func(y func(corpus.Document) error) error {
			for _, d := range docs {
				if err := y(d); err != nil {
					return err
				}
			}
			return nil
		}, enc, corpus.ContextOptions{Ctx: ctx}, yield)
	}
}

// TestStreamMatchesTwoPass: Stream's accumulators equal the two-pass covariance of exactly
// the rows a plain capture of the same batches gives at the real, non-BOS positions, for a
// gated (llama) and a non-gated (gpt2) MLP; the counts add up.
func TestStreamMatchesTwoPass(t *testing.T) {
	for _, name := range []string{"llama", "gpt2"} {
		t.Run(name, func(t *testing.T) {
			m := modeltest.Tiny(t, name, 3)
			contexts := idContexts(12, 16, m.Config.DVocab)
			pairs, err := NewPairs(m, []int{1, 0}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			st, err := Stream(m, pairs, contexts, StreamOptions{Batch: 5})
			if err != nil {
				t.Fatal(err)
			}
			// the reference: capture the same batches and keep real, non-BOS rows
			want := map[hooks.Point][][]float32{}
			var tokens, bos int64
			err = corpus.Run(m, contexts, corpus.RunOptions{Batch: 5,
				Hooks: func(*corpus.Batch) []hooks.Option {
					return []hooks.Option{hooks.Capture("blocks.*.mlp.hook_pre", "blocks.*.mlp.hook_post")}
				},
				After: func(b *corpus.Batch) error {
					for _, p := range b.Result.Cache.Points() {
						a, _ := b.Result.Cache.Get(p)
						w := a.Shape[2]
						for r, c := range b.Contexts {
							for pos := range c.IDs {
								if pos < c.BOS {
									continue
								}
								want[p] = append(want[p], a.Data[(r*b.Len+pos)*w:(r*b.Len+pos+1)*w])
							}
						}
					}
					tokens += b.Tokens()
					for _, c := range b.Contexts {
						bos += int64(c.BOS)
					}
					return nil
				}})
			if err != nil {
				t.Fatal(err)
			}
			if st.Tokens != tokens || st.BOSExcluded != bos || st.Rows != tokens-bos || bos == 0 || st.Contexts == 0 || st.Batches != (st.Contexts+4)/5 {
				t.Errorf("stats %+v; reference %d tokens, %d BOS", st, tokens, bos)
			}
			for _, p := range pairs {
				for _, f := range []struct {
					pt hooks.Point
					c  *Covariance
				}{{hooks.At(p.Layer, hooks.MLPPre), p.Pre}, {hooks.At(p.Layer, hooks.MLPPost), p.Post}} {
					rows := want[f.pt]
					if f.c.N() != int64(len(rows)) {
						t.Fatalf("%s: %d rows, want %d", f.pt, f.c.N(), len(rows))
					}
					w := f.c.Width()
					var flat []float32
					for _, r := range rows {
						flat = append(flat, r...)
					}
					_, ref := twoPass(flat, len(rows), w)
					got := f.c.Scatter(nil)
					for i := range w {
						for j := range w {
							scale := math.Sqrt(ref[i*w+i]*ref[j*w+j]) + 1e-30
							if d := math.Abs(got[i*w+j]-ref[i*w+j]) / scale; d > 1e-12 {
								t.Fatalf("%s: entry (%d, %d) = %g, two-pass %g", f.pt, i, j, got[i*w+j], ref[i*w+j])
							}
						}
					}
				}
			}
		})
	}
}

// TestStreamIncludeBOS: with IncludeBOS every real token is a row.
func TestStreamIncludeBOS(t *testing.T) {
	m := modeltest.Tiny(t, "llama", 3)
	pairs, _ := NewPairs(m, []int{0}, Options{})
	st, err := Stream(m, pairs, idContexts(6, 16, m.Config.DVocab), StreamOptions{IncludeBOS: true})
	if err != nil {
		t.Fatal(err)
	}
	if st.BOSExcluded != 0 || st.Rows != st.Tokens || pairs[0].Post.N() != st.Tokens {
		t.Errorf("stats %+v, post rows %d", st, pairs[0].Post.N())
	}
}

// TestStreamResume: a run stopped after two batches, saved, loaded and continued (Skip) gives
// bit-identical accumulators to one uninterrupted run.
func TestStreamResume(t *testing.T) {
	m := modeltest.Tiny(t, "gpt2", 4)
	contexts := idContexts(15, 12, m.Config.DVocab)
	full, _ := NewPairs(m, nil, Options{})
	total, err := Stream(m, full, contexts, StreamOptions{Batch: 3})
	if err != nil {
		t.Fatal(err)
	}
	part, _ := NewPairs(m, nil, Options{})
	stop := errors.New("stop")
	st1, err := Stream(m, part, contexts, StreamOptions{Batch: 3, After: func(_ *corpus.Batch, s Stats) error {
		if s.Batches == 2 {
			return stop
		}
		return nil
	}})
	if !errors.Is(err, stop) || st1.Batches != 2 {
		t.Fatalf("stopped run: %+v, %v", st1, err)
	}
	path := filepath.Join(t.TempDir(), "state.ckpt")
	if err := SaveState(path, &State{Fingerprint: "fp", Stats: st1, Pairs: part}); err != nil {
		t.Fatal(err)
	}
	loaded, err := LoadState(path, "fp", Options{})
	if err != nil {
		t.Fatal(err)
	}
	st2, err := Stream(m, loaded.Pairs, contexts, StreamOptions{Batch: 3, Skip: loaded.Stats.Contexts})
	if err != nil {
		t.Fatal(err)
	}
	loaded.Stats.Add(st2)
	if loaded.Stats != total {
		t.Errorf("resumed stats %+v, uninterrupted %+v", loaded.Stats, total)
	}
	for i, p := range full {
		q := loaded.Pairs[i]
		if q.Layer != p.Layer {
			t.Fatalf("layer %d loaded as %d", p.Layer, q.Layer)
		}
		for k, c := range []*Covariance{p.Pre, p.Post} {
			a, b := c.Scatter(nil), []*Covariance{q.Pre, q.Post}[k].Scatter(nil)
			for j := range a {
				if a[j] != b[j] {
					t.Fatalf("layer %d: resumed scatter differs at %d: %g vs %g", p.Layer, j, b[j], a[j])
				}
			}
		}
	}
}

// TestLoadStateErrors: another run's checkpoint and a damaged file are errors naming the file.
func TestLoadStateErrors(t *testing.T) {
	m := modeltest.Tiny(t, "llama", 1)
	pairs, _ := NewPairs(m, []int{1}, Options{})
	if _, err := Stream(m, pairs, idContexts(3, 8, m.Config.DVocab), StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "state.ckpt")
	if err := SaveState(path, &State{Fingerprint: "a", Pairs: pairs}); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadState(path, "b", Options{}); err == nil || !strings.Contains(err.Error(), "other settings") {
		t.Errorf("other fingerprint: %v", err)
	}
	data, _ := os.ReadFile(path)
	for name, bad := range map[string][]byte{"truncated": data[:len(data)-9], "garbage": []byte("hello"), "header": append([]byte(stateMagic), 1, 2)} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, bad, 0o644)
		if _, err := LoadState(p, "a", Options{}); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := SaveState(path, &State{Pairs: []*Pair{{Layer: 0, Pre: pairs[0].Pre}}}); err == nil {
		t.Error("a pair without Post was saved")
	}
}

// TestNewPairsErrors: layers the model lacks or repeats are errors.
func TestNewPairsErrors(t *testing.T) {
	m := modeltest.Tiny(t, "llama", 1)
	for _, layers := range [][]int{{5}, {-1}, {0, 0}, {}} {
		if _, err := NewPairs(m, layers, Options{}); err == nil {
			t.Errorf("layers %v: no error", layers)
		}
	}
	if _, err := Stream(m, nil, idContexts(1, 8, 97), StreamOptions{}); err == nil {
		t.Error("no pairs: no error")
	}
	wrong := []*Pair{NewPair(0, 5, Options{})}
	if _, err := Stream(m, wrong, idContexts(1, 8, 97), StreamOptions{}); err == nil || !strings.Contains(err.Error(), "width") {
		t.Errorf("wrong width: %v", err)
	}
}
