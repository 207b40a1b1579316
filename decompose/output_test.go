package decompose

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/tensor"
	"github.com/neuronscope/neuronscope/model/tokenizer"
)

// worldActivations streams the first sentences of the demo world through the GPT-2 trained on
// it and collects blocks.<layer>.mlp.hook_post with AppendBatch from an observer: the path a
// corpus source takes.
func worldActivations(t testing.TB, layer, sentences int) (*model.Model, *tokenizer.Tokenizer, *Activations) {
	t.Helper()
	m, err := model.Load("../testdata/world-gpt2")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	tok, err := tokenizer.Load("../testdata/world-gpt2/tokenizer.json")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("../testdata/world/train.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var seqs [][]int
	for sc := bufio.NewScanner(f); sc.Scan() && len(seqs) < sentences; {
		enc, err := tok.EncodeWithBOS(sc.Text(), tokenizer.BOSAlways, m.Config.BOS)
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, enc.IDs)
	}
	a := NewActivations(m.Config.DMLP, 0)
	point := hooks.At(layer, hooks.MLPPost)
	for lo := 0; lo < len(seqs); lo += 16 {
		b, err := model.NewBatch(seqs[lo:min(lo+16, len(seqs))], model.PadRight, max(m.Config.Pad, 0))
		if err != nil {
			t.Fatal(err)
		}
		_, err = m.Forward(b, hooks.ObservePoint(point, func(_ hooks.Point, act *tensor.Tensor) error {
			_, err := a.AppendBatch(b, act.Data, TokenFilter{BOS: m.Config.BOS})
			return err
		}))
		if err != nil {
			t.Fatal(err)
		}
	}
	return m, tok, a
}

func decoder(tok *tokenizer.Tokenizer) func([]int) string {
	return func(ids []int) string {
		s, _ := tok.Decode(ids, false)
		return s
	}
}

// TestReportRoundTrip fits world-gpt2's layer-2 activations and checks the report: neurons are
// F's non-zeros, top tokens are G's largest entries with contexts from their own sentence,
// vocabulary lists come from the model, and Write/Read give back the same output.
func TestReportRoundTrip(t *testing.T) {
	const layer = 2
	m, tok, a := worldActivations(t, layer, 96)
	if a.DroppedBOS != 96 || a.Sequences() != 96 || a.DroppedPad == 0 {
		t.Fatalf("dropped %d BOS and %d pads of %d sequences", a.DroppedBOS, a.DroppedPad, a.Sequences())
	}
	opt := DefaultOptions()
	opt.Rank, opt.MaxIter, opt.Sparsity = 8, 60, 0.05
	res, err := SNMF(context.Background(), a, opt)
	if err != nil {
		t.Fatal(err)
	}
	ro := DefaultReportOptions()
	ro.Tap, ro.Layer, ro.Model, ro.Decode, ro.Source = hooks.At(layer, hooks.MLPPost).String(), layer, m, decoder(tok), "world train.txt"
	ro.TopTokens, ro.Window, ro.VocabK = 5, 3, 7
	ro.Filter = TokenFilter{BOS: m.Config.BOS}
	rep, err := NewReport(res, a, opt, ro)
	if err != nil {
		t.Fatal(err)
	}
	for j, f := range rep.Features {
		nz := 0
		for i := 0; i < a.DMLP; i++ {
			if res.F[i*opt.Rank+j] != 0 {
				nz++
			}
		}
		if len(f.Neurons) != nz || nz == 0 || f.Neurons[0].Layer != layer {
			t.Fatalf("feature %d: %d neurons listed, F has %d non-zeros", j, len(f.Neurons), nz)
		}
		for i, tt := range f.TopTokens {
			if tt.G != float64(res.G[tt.Row*opt.Rank+j]) || i > 0 && tt.G > f.TopTokens[i-1].G {
				t.Fatalf("feature %d top token %d: %+v", j, i, tt)
			}
			if tt.ContextIDs[tt.Focus] != tt.TokenID || tt.TokenID != a.Tokens[tt.Row].ID || len(tt.ContextIDs) > 2*ro.Window+1 {
				t.Fatalf("feature %d: context %v focus %d for token %d", j, tt.ContextIDs, tt.Focus, tt.TokenID)
			}
			if tt.Token == "" || !strings.Contains(tt.Context, tt.Token) {
				t.Fatalf("feature %d: token %q not in its context %q", j, tt.Token, tt.Context)
			}
		}
		if f.Vocab == nil || len(f.Vocab.Top) != ro.VocabK || len(f.Vocab.Negated) != ro.VocabK || f.Vocab.Top[0].Token == "" {
			t.Fatalf("feature %d: vocabulary projection %+v", j, f.Vocab)
		}
	}
	dir := filepath.Join(t.TempDir(), "out")
	if err := Write(dir, &Output{Report: rep, F: res.F, G: res.G}); err != nil {
		t.Fatal(err)
	}
	back, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.F, res.F) || !slices.Equal(back.G, res.G) || !back.Report.HasG ||
		back.Report.Fit.BestLoss != res.BestLoss || len(back.Report.Fit.LossCurve) != res.Iters ||
		back.Report.Features[3].Neurons[0] != rep.Features[3].Neurons[0] || back.Report.Provenance.Tool != "neuronscope" {
		t.Fatal("read back a different output")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 {
		t.Errorf("output directory holds %d entries, want 3", len(entries))
	}
	ns, err := hooks.ReadNeuronSet(filepath.Join(dir, NeuronsFile))
	if err != nil {
		t.Fatal(err)
	}
	g3, _ := ns.Group("feature_3")
	if ns.Tap != hooks.MLPPost || len(ns.Groups) != opt.Rank || ns.Groups[3].Name != "feature_3" || len(g3) != len(rep.Features[3].Neurons) {
		t.Errorf("neuron set: tap %v, %d groups", ns.Tap, len(ns.Groups))
	}
}

func TestReadErrors(t *testing.T) {
	dir := t.TempDir()
	rep := &Report{SchemaVersion: Schema, DMLP: 2, Rank: 1, Tokens: 1}
	if err := Write(dir, &Output{Report: rep, F: []float32{1, 2}}); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(dir); err != nil {
		t.Fatal(err)
	}
	if err := Write(dir, &Output{Report: rep, F: []float32{1}}); err == nil {
		t.Error("F of the wrong size written")
	}
	os.WriteFile(filepath.Join(dir, ReportFile), []byte(`{"schema_version":"other"}`), 0o644)
	if _, err := Read(dir); err == nil || !strings.Contains(err.Error(), ReportFile) {
		t.Errorf("wrong schema: %v", err)
	}
	os.WriteFile(filepath.Join(dir, ReportFile), []byte(`{"schema_version":"`+Schema+`","d_mlp":3,"rank":1}`), 0o644)
	if _, err := Read(dir); err == nil || !strings.Contains(err.Error(), FactorsFile) {
		t.Errorf("shape mismatch: %v", err)
	}
	os.WriteFile(filepath.Join(dir, ReportFile), []byte(`{`), 0o644)
	if _, err := Read(dir); err == nil {
		t.Error("corrupt JSON accepted")
	}
}
