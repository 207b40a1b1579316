package sae

import (
	"errors"
	"io"
	"path/filepath"
	"slices"
	"testing"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
)

func TestModelProducer(t *testing.T) {
	m := tinyModel(t, "llama")
	post, resid := hooks.At(1, hooks.MLPPost), hooks.At(0, hooks.ResidPost)
	seqs := [][]int{{3, 14, 15}, {92, 65, 35, 89, 7}, {27}, {18, 28, 1, 2}, {5, 6}}
	p, err := NewModelProducer(m, []hooks.Point{post, resid}, seqs, 2)
	if err != nil {
		t.Fatal(err)
	}
	if p.Width() != 48+32 {
		t.Fatalf("width %d", p.Width())
	}
	// Reference: each sequence alone, both points captured.
	var want []float32
	for _, s := range seqs {
		b, _ := model.NewBatch([][]int{s}, model.PadRight, 0)
		res, err := m.Forward(b, hooks.CapturePoints(post, resid))
		if err != nil {
			t.Fatal(err)
		}
		a, _ := res.Cache.Get(post)
		r, _ := res.Cache.Get(resid)
		for q := range s {
			want = append(want, a.Data[q*48:(q+1)*48]...)
			want = append(want, r.Data[q*32:(q+1)*32]...)
		}
	}
	var got []float32
	buf := make([]float32, 3*p.Width()) // odd chunks across batch boundaries
	for {
		k, err := p.Produce(buf)
		got = append(got, buf[:k*p.Width()]...)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d values, want %d", len(got), len(want))
	}
	for i := range got {
		if d := got[i] - want[i]; d > 1e-5 || d < -1e-5 {
			t.Fatalf("value %d: %g, want %g (batched vs single forward)", i, got[i], want[i])
		}
	}
	// Seek to every row: the rest of the stream is the same.
	w := p.Width()
	for row := range len(want) / w {
		if err := p.SeekRow(int64(row)); err != nil {
			t.Fatal(err)
		}
		one := make([]float32, w)
		if _, err := p.Produce(one); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(one, got[row*w:(row+1)*w]) {
			t.Fatalf("after SeekRow(%d) the row differs", row)
		}
	}
	p.SetDropFirst(true)
	if err := p.SeekRow(0); err != nil {
		t.Fatal(err)
	}
	first := make([]float32, w)
	p.Produce(first)
	if !slices.Equal(first, got[1*w:2*w]) {
		t.Error("DropFirst did not drop the first token")
	}
	// SetDropLeading: sequence i loses its first lead[i] rows, the others stay in order.
	lead := []int{1, 2, 0, 3, 1}
	if err := p.SetDropLeading(lead); err != nil {
		t.Fatal(err)
	}
	if err := p.SeekRow(0); err != nil {
		t.Fatal(err)
	}
	var kept []float32
	at := 0
	for i, s := range seqs {
		kept = append(kept, got[(at+lead[i])*w:(at+len(s))*w]...)
		at += len(s)
	}
	rest := make([]float32, len(kept)+w)
	if k, _ := p.Produce(rest); k*w != len(kept) || !slices.Equal(rest[:len(kept)], kept) {
		t.Errorf("SetDropLeading: %d rows, want %d, or other values", k, len(kept)/w)
	}
	if p.SetDropLeading([]int{1, 1}) == nil || p.SetDropLeading([]int{0, 0, 1, 0, 0}) == nil {
		t.Error("SetDropLeading accepted the wrong count, or dropping a whole sequence")
	}
	if _, err := NewModelProducer(m, []hooks.Point{hooks.At(5, hooks.MLPPost)}, seqs, 2); err == nil {
		t.Error("a hook the model lacks was accepted")
	}
	if _, err := NewModelProducer(m, []hooks.Point{post}, [][]int{{1, 500}}, 2); err == nil {
		t.Error("a token outside the vocabulary was accepted")
	}
}

func TestTrainFromModelThroughShuffleBufferResumes(t *testing.T) {
	m := tinyModel(t, "gpt2")
	var seqs [][]int
	for i := range 60 {
		seqs = append(seqs, []int{1 + i%90, 2 + i%80, 3 + i%70, 4 + i%60, 5 + i%50})
	}
	mk := func() *ShuffleBuffer {
		p, err := NewModelProducer(m, []hooks.Point{hooks.At(1, hooks.MLPPost)}, seqs, 8)
		if err != nil {
			t.Fatal(err)
		}
		p.Loop = true
		b, err := NewShuffleBuffer(p, 100, 9)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cfg := plantedConfig(TopK)(128, 64, 30, 32)
	cfg.K, cfg.AuxK, cfg.StatsRows, cfg.DeadTokens = 4, 8, 64, 64
	b := mk()
	ref := trainOnce(t, cfg, b, RunOptions{})
	b.Close()
	path := filepath.Join(t.TempDir(), "ck.safetensors")
	tr, _ := NewTrainer(cfg)
	b = mk()
	if err := Train(&failAfter{b, 19}, []*Trainer{tr}, RunOptions{Checkpoint: path, CheckpointEvery: 9, Source: "m"}); !errors.Is(err, errCrash) {
		t.Fatal(err)
	}
	b.Close()
	ck, err := ReadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	b = mk()
	defer b.Close()
	trs, err := ck.Resume(b, []TrainConfig{cfg}, "m")
	if err != nil {
		t.Fatal(err)
	}
	if err := Train(b, trs, RunOptions{}); err != nil {
		t.Fatal(err)
	}
	if !sameWeights(ref, trs[0]) {
		t.Error("training from the model through the shuffle buffer did not resume bit for bit")
	}
}
