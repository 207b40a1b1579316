package train_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/internal/world"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/train"
)

// tinyWorld returns a small world's training sentences as token ids (<bos> = 2 first) and
// the vocabulary size, tokenized by the world's own word list (ids 4.. after the specials).
func tinyWorld(t testing.TB) ([][]int, int) {
	t.Helper()
	w, err := world.Generate(world.Config{Seed: 7, People: 8, Cities: 4, Countries: 2, Continents: 2,
		Companies: 3, Instruments: 2, Tongues: 4, Children: 3, Filler: 12, EvalFiller: 2})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int{}
	for i, v := range w.Vocabulary() {
		ids[v] = i + 4
	}
	var seqs [][]int
	for _, s := range w.Train {
		seq := []int{2}
		for _, word := range strings.Fields(s.Text) {
			id, ok := ids[word]
			if !ok {
				t.Fatalf("word %q not in the vocabulary", word)
			}
			seq = append(seq, id)
		}
		seqs = append(seqs, seq)
	}
	return seqs, len(ids) + 4
}

func tinyLlama(t testing.TB, vocab int) (*model.Model, []byte) {
	t.Helper()
	cj := []byte(fmt.Sprintf(`{"architectures":["LlamaForCausalLM"],"model_type":"llama","hidden_size":32,
"intermediate_size":64,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,"head_dim":8,
"vocab_size":%d,"max_position_embeddings":16,"rms_norm_eps":1e-5,"rope_theta":10000.0,"hidden_act":"silu",
"tie_word_embeddings":false,"attention_bias":false,"mlp_bias":false,"bos_token_id":2,"eos_token_id":3,
"pad_token_id":0,"torch_dtype":"float32"}`, vocab))
	cfg, err := model.ParseConfig(cj, "tiny config.json")
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.NewRandom(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	train.Init(m, 3)
	return m, cj
}

func shortConfig() train.Config {
	c := train.DefaultConfig()
	c.Steps, c.BatchSize, c.Warmup, c.LR = 40, 16, 5, 1e-2
	return c
}

// trainTiny trains a fresh tiny Llama for 40 steps and returns it with its per-step losses.
func trainTiny(t *testing.T) (*model.Model, []byte, []float64) {
	seqs, vocab := tinyWorld(t)
	m, cj := tinyLlama(t, vocab)
	tr, err := train.New(m, shortConfig())
	if err != nil {
		t.Fatal(err)
	}
	var losses []float64
	if err := tr.Run(seqs, func(s train.Step) { losses = append(losses, s.Loss) }); err != nil {
		t.Fatal(err)
	}
	return m, cj, losses
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

func TestShortRunLowersLossAndIsReproducible(t *testing.T) {
	m1, _, l1 := trainTiny(t)
	m2, _, l2 := trainTiny(t)
	first, last := mean(l1[:5]), mean(l1[len(l1)-5:])
	t.Logf("mean loss: first 5 steps %.4f, last 5 steps %.4f (uniform guess %.4f)", first, last, math.Log(float64(m1.Config.DVocab)))
	if !(last < first-1) {
		t.Errorf("loss did not fall by at least 1 nat: %.4f → %.4f", first, last)
	}
	for i := range l1 {
		if l1[i] != l2[i] {
			t.Fatalf("step %d: loss %v vs %v in a second run with the same seed", i+1, l1[i], l2[i])
		}
	}
	p2 := m2.Params()
	for i, p := range m1.Params() {
		for j := range p.Data {
			if math.Float32bits(p.Data[j]) != math.Float32bits(p2[i].Data[j]) {
				t.Fatalf("%s[%d]: %v vs %v in a second run with the same seed", p.Name, j, p.Data[j], p2[i].Data[j])
			}
		}
	}
}

func TestSavedCheckpointReproducesLogits(t *testing.T) {
	m, cj, _ := trainTiny(t)
	seqs, _ := tinyWorld(t)
	b, err := model.NewBatch(seqs[:8], model.PadRight, 0)
	if err != nil {
		t.Fatal(err)
	}
	want, err := m.Forward(b)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := m.Save(dir, cj, "F32"); err != nil {
		t.Fatal(err)
	}
	re, err := model.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer re.Close()
	got, err := re.Forward(b)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range want.Logits.Data {
		if math.Float32bits(v) != math.Float32bits(got.Logits.Data[i]) && b.Mask[i/m.Config.DVocab] {
			t.Fatalf("logit %d: %v after reload, %v at training time", i, got.Logits.Data[i], v)
		}
	}
}

func TestScheduleWarmupAndCosine(t *testing.T) {
	c := train.Config{Steps: 101, Warmup: 10, LR: 1, MinLR: 0.1}
	if got := c.Rate(0); got != 0.1 {
		t.Errorf("first warm-up step: %v, want 0.1", got)
	}
	if got := c.Rate(9); got != 1 {
		t.Errorf("last warm-up step: %v, want 1", got)
	}
	if got := c.Rate(10); got != 1 {
		t.Errorf("first cosine step: %v, want 1", got)
	}
	if got := c.Rate(100); math.Abs(got-0.1) > 1e-12 {
		t.Errorf("last step: %v, want 0.1", got)
	}
	if mid := c.Rate(55); math.Abs(mid-0.55) > 1e-12 {
		t.Errorf("cosine midpoint: %v, want 0.55", mid)
	}
}

func TestBadInput(t *testing.T) {
	_, vocab := tinyWorld(t)
	m, _ := tinyLlama(t, vocab)
	for _, c := range []struct {
		name string
		mod  func(*train.Config)
		want string
	}{
		{"no steps", func(c *train.Config) { c.Steps = 0 }, "steps"},
		{"warmup", func(c *train.Config) { c.Warmup = c.Steps + 1 }, "warmup"},
		{"lr", func(c *train.Config) { c.LR = -1 }, "learning rate"},
		{"beta", func(c *train.Config) { c.Beta2 = 1 }, "betas"},
	} {
		cfg := shortConfig()
		c.mod(&cfg)
		if _, err := train.New(m, cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want one mentioning %q", c.name, err, c.want)
		}
	}
	tr, err := train.New(m, shortConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		seqs [][]int
		want string
	}{
		{"empty", nil, "no training sequences"},
		{"short", [][]int{{2}}, "need ≥ 2"},
		{"vocab", [][]int{{2, vocab}}, "outside the vocabulary"},
		{"long", [][]int{make([]int, 17)}, "positions"},
	} {
		if err := tr.Run(c.seqs, nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want one mentioning %q", c.name, err, c.want)
		}
	}
}

func TestInitIsGPT2Style(t *testing.T) {
	_, vocab := tinyWorld(t)
	m, _ := tinyLlama(t, vocab)
	for _, p := range m.Params() {
		var s, ss float64
		for _, v := range p.Data {
			s += float64(v)
			ss += float64(v) * float64(v)
		}
		n := float64(len(p.Data))
		std := math.Sqrt(ss/n - (s/n)*(s/n))
		switch {
		case strings.Contains(p.Name, "norm"):
			if s != n {
				t.Errorf("%s: norm scales should all be 1", p.Name)
			}
		case strings.HasSuffix(p.Name, "o_proj.weight") || strings.HasSuffix(p.Name, "down_proj.weight"):
			if math.Abs(std-0.01) > 0.002 { // 0.02/sqrt(2·2 layers)
				t.Errorf("%s: std %.4f, want 0.01", p.Name, std)
			}
		default:
			if math.Abs(std-0.02) > 0.003 {
				t.Errorf("%s: std %.4f, want 0.02", p.Name, std)
			}
		}
	}
	var buf bytes.Buffer
	json.NewEncoder(&buf).Encode(train.DefaultConfig())
	if !strings.Contains(buf.String(), `"weight_decay":0.1`) {
		t.Errorf("config JSON %s lacks weight_decay", buf.String())
	}
}
