package sae

import (
	"errors"
	"math"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

func smallConfig(arch Arch, batchTopK bool) TrainConfig {
	c := plantedConfig(arch)(16, 40, 40, 64)
	c.BatchTopK = batchTopK
	c.StatsRows = 512
	if arch == TopK {
		c.DeadTokens = 64 // latents idle for two steps count as dead, so AuxK is exercised
	}
	return c
}

var allArchs = []struct {
	name  string
	arch  Arch
	batch bool
}{{"topk", TopK, false}, {"batchtopk", TopK, true}, {"standard", Standard, false}, {"jumprelu", JumpReLU, false}}

func plantedRows(n int) *Rows {
	x, _ := planted(n, 16, 24, 3, 5)
	return NewRows(x, 16, "planted")
}

func trainOnce(t *testing.T, cfg TrainConfig, b Batcher, opt RunOptions) *Trainer {
	t.Helper()
	tr, err := NewTrainer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := Train(b, []*Trainer{tr}, opt); err != nil {
		t.Fatal(err)
	}
	return tr
}

func sameWeights(a, b *Trainer) bool {
	for _, pair := range [][2]params{{a.p, b.p}, {a.m, b.m}, {a.v, b.v}} {
		la, lb := pair[0].list(), pair[1].list()
		for i := range la {
			for j := range la[i] {
				if math.Float32bits(la[i][j]) != math.Float32bits(lb[i][j]) {
					return false
				}
			}
		}
	}
	return slices.Equal(a.sinceHit, b.sinceHit) && a.bthresh == b.bthresh
}

func TestDeterministicTraining(t *testing.T) {
	rows := plantedRows(4096)
	for _, a := range allArchs {
		cfg := smallConfig(a.arch, a.batch)
		one := trainOnce(t, cfg, NewShuffled(rows, 1), RunOptions{})
		two := trainOnce(t, cfg, NewShuffled(rows, 1), RunOptions{})
		if !sameWeights(one, two) {
			t.Errorf("%s: two runs with the same seed differ", a.name)
		}
		prev := runtime.GOMAXPROCS(1)
		single := trainOnce(t, cfg, NewShuffled(rows, 1), RunOptions{})
		runtime.GOMAXPROCS(prev)
		if !sameWeights(one, single) {
			t.Errorf("%s: a run on one thread differs from a run on %d", a.name, prev)
		}
		cfg.Seed++
		other := trainOnce(t, cfg, NewShuffled(rows, 1), RunOptions{})
		if sameWeights(one, other) {
			t.Errorf("%s: a different seed gave the same weights", a.name)
		}
	}
}

// failAfter is a batcher that fails after n batches, as a crash would.
type failAfter struct {
	Resumable
	n int
}

var errCrash = errors.New("simulated crash")

func (f *failAfter) Next(dst []float32) error {
	if f.n == 0 {
		return errCrash
	}
	f.n--
	return f.Resumable.Next(dst)
}

func TestResumeIsBitForBit(t *testing.T) {
	rows := plantedRows(4096)
	batchers := map[string]func() Resumable{
		"shuffled": func() Resumable { return NewShuffled(rows, 2) },
		"buffer": func() Resumable {
			b, err := NewShuffleBuffer(&Sequential{Rows: rows, Loop: true}, 700, 3)
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
	}
	for bname, mk := range batchers {
		for _, a := range allArchs {
			cfg := smallConfig(a.arch, a.batch)
			ref := trainOnce(t, cfg, mk(), RunOptions{})
			path := filepath.Join(t.TempDir(), "trainer_state.safetensors")
			opt := RunOptions{Checkpoint: path, CheckpointEvery: 10, Source: "planted"}
			// The statistics sample is one batcher call, then 25 steps: crash after step 25,
			// with the last checkpoint at step 20.
			tr, _ := NewTrainer(cfg)
			err := Train(&failAfter{mk(), 26}, []*Trainer{tr}, opt)
			if !errors.Is(err, errCrash) {
				t.Fatalf("%s/%s: want the simulated crash, got %v", bname, a.name, err)
			}
			ck, err := ReadCheckpoint(path)
			if err != nil {
				t.Fatal(err)
			}
			b := mk()
			trs, err := ck.Resume(b, []TrainConfig{cfg}, "planted")
			if err != nil {
				t.Fatal(err)
			}
			if trs[0].Steps() != 20 {
				t.Fatalf("%s/%s: checkpoint at step %d, want 20", bname, a.name, trs[0].Steps())
			}
			if err := Train(b, trs, opt); err != nil {
				t.Fatal(err)
			}
			if !sameWeights(ref, trs[0]) {
				t.Errorf("%s/%s: resumed run differs from the uninterrupted one", bname, a.name)
			}
			if sb, ok := b.(*ShuffleBuffer); ok {
				sb.Close()
			}
		}
	}
}

func TestResumeWithChangedSettingsFails(t *testing.T) {
	rows := plantedRows(1024)
	cfg := smallConfig(TopK, false)
	path := filepath.Join(t.TempDir(), "ck.safetensors")
	trainOnce(t, cfg, NewShuffled(rows, 1), RunOptions{Checkpoint: path, CheckpointEvery: 10, Source: "a.safetensors:x"})
	ck, err := ReadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	changed := cfg
	changed.K = 5
	_, err = ck.Resume(NewShuffled(rows, 1), []TrainConfig{changed}, "a.safetensors:x")
	if err == nil || !strings.Contains(err.Error(), "k: 3 → 5") {
		t.Errorf("changed k: got %v", err)
	}
	_, err = ck.Resume(NewShuffled(rows, 1), []TrainConfig{cfg}, "b.safetensors:x")
	if err == nil || !strings.Contains(err.Error(), "b.safetensors") {
		t.Errorf("changed data: got %v", err)
	}
	_, err = ck.Resume(NewShuffled(rows, 9), []TrainConfig{cfg}, "a.safetensors:x")
	if err == nil || !strings.Contains(err.Error(), "seed") {
		t.Errorf("changed data seed: got %v", err)
	}
}

// nanAt returns finite rows except for one NaN in batch k (1-based, after the sample).
type nanAt struct {
	Resumable
	calls, at int
}

func (b *nanAt) Next(dst []float32) error {
	err := b.Resumable.Next(dst)
	b.calls++
	if b.calls == b.at+1 {
		dst[len(dst)/2] = float32(math.NaN())
	}
	return err
}

func TestNonFiniteStopsAndKeepsCheckpoint(t *testing.T) {
	rows := plantedRows(2048)
	cfg := smallConfig(JumpReLU, false)
	path := filepath.Join(t.TempDir(), "ck.safetensors")
	tr, _ := NewTrainer(cfg)
	err := Train(&nanAt{Resumable: NewShuffled(rows, 1), at: 17}, []*Trainer{tr}, RunOptions{Checkpoint: path, CheckpointEvery: 5})
	var nf *NonFiniteError
	if !errors.As(err, &nf) || nf.Step != 17 || !strings.Contains(err.Error(), "step 17") {
		t.Fatalf("want a non-finite error at step 17, got %v", err)
	}
	ck, err := ReadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	if s := ck.Trainers[0].Steps(); s != 15 {
		t.Errorf("last good checkpoint at step %d, want 15", s)
	}
	if tr.Steps() != 16 {
		t.Errorf("trainer stopped at step %d, want 16 (the failing step is not applied)", tr.Steps())
	}
}

func TestTopKDecoderInvariants(t *testing.T) {
	rows := plantedRows(4096)
	for _, batch := range []bool{false, true} {
		cfg := smallConfig(TopK, batch)
		tr, _ := NewTrainer(cfg)
		steps := 0
		tr.afterProject = func(t2 *Trainer) {
			steps++
			d := cfg.DIn
			for j := range cfg.DSAE {
				row, g := t2.p.dec[j*d:(j+1)*d], t2.g.dec[j*d:(j+1)*d]
				if n := norm(row); math.Abs(n-1) > 1e-6 {
					t.Fatalf("step %d: decoder row %d has norm %.9f after renormalisation", t2.step+1, j, n)
				}
				var dp float64
				for i := range row {
					dp += float64(row[i]) * float64(g[i])
				}
				if gn := norm(g); math.Abs(dp) > 1e-5*gn+1e-12 {
					t.Fatalf("step %d: decoder gradient of row %d has a parallel component %g (‖g‖ = %g)", t2.step+1, j, dp, gn)
				}
			}
		}
		trainOnce2(t, tr, NewShuffled(rows, 4))
		if steps != cfg.Steps {
			t.Fatalf("invariants checked at %d steps, want %d", steps, cfg.Steps)
		}
	}
}

func trainOnce2(t *testing.T, tr *Trainer, b Batcher) {
	t.Helper()
	if err := Train(b, []*Trainer{tr}, RunOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestSeveralSAEsFromOnePass(t *testing.T) {
	// Two taps side by side in each row (columns 0..15 and 16..31), three SAEs: training them
	// together gives the same weights as training each alone on the same batches.
	x1, _ := planted(2048, 16, 24, 3, 5)
	x2, _ := planted(2048, 16, 24, 2, 6)
	wide := make([]float32, 2048*32)
	for i := range 2048 {
		copy(wide[i*32:], x1[i*16:(i+1)*16])
		copy(wide[i*32+16:], x2[i*16:(i+1)*16])
	}
	rows := NewRows(wide, 32, "two taps")
	a := smallConfig(TopK, false)
	b := smallConfig(JumpReLU, false)
	b.Column = 16
	c := smallConfig(Standard, false)
	c.Column = 16
	c.Steps = 25 // stops earlier than the others
	var trs []*Trainer
	for _, cfg := range []TrainConfig{a, b, c} {
		tr, _ := NewTrainer(cfg)
		trs = append(trs, tr)
	}
	counts := make([]int, 3)
	if err := Train(NewShuffled(rows, 7), trs, RunOptions{OnStep: func(i int, _ StepStats) { counts[i]++ }}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(counts, []int{40, 40, 25}) {
		t.Errorf("steps per SAE %v, want [40 40 25]", counts)
	}
	for i, cfg := range []TrainConfig{a, b, c} {
		alone := trainOnce(t, cfg, NewShuffled(rows, 7), RunOptions{})
		if !sameWeights(alone, trs[i]) {
			t.Errorf("SAE %d trained with others differs from SAE %d trained alone", i, i)
		}
	}
	bad := smallConfig(TopK, false)
	bad.Column = 20
	tr, _ := NewTrainer(bad)
	if err := Train(NewShuffled(rows, 7), []*Trainer{tr}, RunOptions{}); err == nil || !strings.Contains(err.Error(), "width 32") {
		t.Errorf("columns past the row: got %v", err)
	}
}
