package sae

import (
	"errors"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/model/safetensors"
)

func TestOpenActivations(t *testing.T) {
	dir := t.TempDir()
	// A trace-like file: [batch 2, pos 3, d 2], second row padded at its end.
	acts := []float32{1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 9, 9}
	mask := []int64{1, 1, 1, 1, 1, 0}
	ids := []int64{7, 8, 9, 10, 11, 0}
	trace := filepath.Join(dir, "trace.safetensors")
	if err := safetensors.WriteFile(trace, []safetensors.WriteTensor{
		safetensors.F32("logits", []int{2, 3, 4}, make([]float32, 24)),
		safetensors.I64("input_ids", []int{2, 3}, ids), safetensors.I64("attention_mask", []int{2, 3}, mask),
		safetensors.F16("blocks.0.mlp.hook_post", []int{2, 3, 2}, acts)}, map[string]string{"neuronscope": `{"model_dir":"/m/tiny"}`}); err != nil {
		t.Fatal(err)
	}
	a, err := OpenActivations(trace, ActivationOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got []float32
	for i := range a.Len() {
		got = append(got, a.Row(i)...)
	}
	if a.Tensor != "blocks.0.mlp.hook_post" || !slices.Equal(got, acts[:10]) || a.Batch != 2 || a.Metadata["neuronscope"] == "" {
		t.Errorf("rows %v (tensor %q)", got, a.Tensor)
	}
	a.Close()
	a, err = OpenActivations(trace, ActivationOptions{Tensor: "blocks.0.mlp.hook_post", DropFirst: true})
	if err != nil {
		t.Fatal(err)
	}
	if a.Len() != 3 || a.Row(0)[0] != 2 || a.Row(2)[0] != 5 {
		t.Errorf("dropping the first tokens: %d rows, first %v", a.Len(), a.Row(0))
	}
	a.Close()
	seqs, err := TraceTokens(trace)
	if err != nil || len(seqs) != 2 || !slices.Equal(seqs[1], []int{10, 11}) {
		t.Errorf("trace tokens %v %v", seqs, err)
	}
	// A plain [n, d] file, and bad ones.
	plain := filepath.Join(dir, "plain.safetensors")
	safetensors.WriteFile(plain, []safetensors.WriteTensor{safetensors.F32("x", []int{3, 2}, acts[:6])}, nil)
	if a, err := OpenActivations(plain, ActivationOptions{}); err != nil || a.Len() != 3 || a.Width() != 2 {
		t.Errorf("plain file: %v", err)
	}
	two := filepath.Join(dir, "two.safetensors")
	safetensors.WriteFile(two, []safetensors.WriteTensor{safetensors.F32("a", []int{3, 2}, acts[:6]), safetensors.F32("b", []int{3, 2}, acts[:6])}, nil)
	nomask := filepath.Join(dir, "nomask.safetensors")
	safetensors.WriteFile(nomask, []safetensors.WriteTensor{safetensors.F32("a", []int{1, 3, 2}, acts[:6])}, nil)
	ints := filepath.Join(dir, "ints.safetensors")
	safetensors.WriteFile(ints, []safetensors.WriteTensor{safetensors.I64("a", []int{3, 2}, ids)}, nil)
	for _, tc := range []struct {
		path string
		opt  ActivationOptions
		want string
	}{
		{two, ActivationOptions{}, "2 activation tensors (a, b)"},
		{two, ActivationOptions{Tensor: "c"}, `no tensor "c"`},
		{nomask, ActivationOptions{}, "no attention_mask"},
		{ints, ActivationOptions{Tensor: "a"}, "not a float tensor"},
		{plain, ActivationOptions{DropFirst: true}, "needs a trace file"},
		{filepath.Join(dir, "missing.safetensors"), ActivationOptions{}, "missing.safetensors"},
	} {
		if _, err := OpenActivations(tc.path, tc.opt); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), filepath.Base(tc.path)) {
			t.Errorf("%s %+v: error %v, want one naming the file and %q", tc.path, tc.opt, err, tc.want)
		}
	}
}

func TestBatchers(t *testing.T) {
	const n = 50
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(i)
	}
	rows := NewRows(x, 1, "x")
	// One epoch of Shuffled visits every row once, in an order fixed by the seed.
	one := func(seed uint64) []float32 {
		b := NewShuffled(rows, seed)
		out := make([]float32, n)
		b.Next(out)
		return out
	}
	e := one(1)
	s := slices.Clone(e)
	slices.Sort(s)
	if !slices.Equal(s, x) || !slices.Equal(e, one(1)) || slices.Equal(e, one(2)) || slices.Equal(e, x) {
		t.Errorf("shuffled epoch %v", e)
	}
	// A shuffle buffer over a producer that ends yields every row exactly once, then EOF.
	buf, err := NewShuffleBuffer(&Sequential{Rows: rows}, 8, 3)
	if err != nil {
		t.Fatal(err)
	}
	var got []float32
	b1 := make([]float32, 7)
	for {
		err := buf.Next(b1)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, b1...)
	}
	buf.Close()
	// The last batch stopped partway: the rows drawn before EOF are still distinct.
	s = slices.Clone(got)
	slices.Sort(s)
	if len(slices.Compact(slices.Clone(s))) != len(s) || len(got) < n-7 {
		t.Errorf("buffer output %v", got)
	}
	if slices.Equal(got[:n-8], x[:n-8]) {
		t.Error("the buffer did not shuffle")
	}
	if _, err := NewShuffleBuffer(&Sequential{Rows: rows}, 0, 1); err == nil {
		t.Error("capacity 0 accepted")
	}
}
