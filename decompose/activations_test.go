package decompose

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/safetensors"
)

// writeTrace writes a trace-format file: hook tensor [2, 4, 3], input_ids and attention_mask
// (row 0 left-padded by one, BOS id 1 first in each row).
func writeTrace(t *testing.T, nanPad, nanKept bool) string {
	t.Helper()
	acts := make([]float32, 2*4*3)
	for i := range acts {
		acts[i] = float32(i)
	}
	if nanPad {
		acts[0] = float32(math.NaN()) // row 0, position 0: a pad
	}
	if nanKept {
		acts[3*3+1] = float32(math.NaN()) // row 0, position 3, neuron 1: a real token
	}
	path := filepath.Join(t.TempDir(), "trace.safetensors")
	err := safetensors.WriteFile(path, []safetensors.WriteTensor{
		safetensors.F32("logits", []int{2, 4, 5}, make([]float32, 40)),
		safetensors.I64("input_ids", []int{2, 4}, []int64{0, 1, 7, 8, 1, 9, 1, 4}),
		safetensors.I64("attention_mask", []int{2, 4}, []int64{0, 1, 1, 1, 1, 1, 1, 1}),
		safetensors.F32("blocks.0.mlp.hook_post", []int{2, 4, 3}, acts),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func TestFileSourceTrace(t *testing.T) {
	path := writeTrace(t, false, false)
	for _, c := range []struct {
		filter TokenFilter
		rows   []int // flat [batch·pos] indices kept
		bos    int
	}{
		{NoFilter, []int{1, 2, 3, 4, 5, 6, 7}, 0},
		{TokenFilter{BOS: 1}, []int{2, 3, 5, 7}, 3}, // every id 1 goes, as in the published mask
		{TokenFilter{BOS: -1, DropFirst: true}, []int{2, 3, 5, 6, 7}, 0},
	} {
		a := NewActivations(0, 0)
		if err := (FileSource{Path: path, Filter: c.filter}).AppendTo(context.Background(), a); err != nil {
			t.Fatal(err)
		}
		if a.N() != len(c.rows) || a.DMLP != 3 || a.DroppedPad != 1 || a.DroppedBOS != c.bos || a.Sequences() != 2 {
			t.Fatalf("filter %+v: %d rows of %d, dropped %d/%d/%d", c.filter, a.N(), a.DMLP, a.DroppedPad, a.DroppedBOS, a.DroppedFirst)
		}
		ids := []int{0, 1, 7, 8, 1, 9, 1, 4}
		for r, flat := range c.rows {
			if a.Rows[r*3] != float32(flat*3) || a.Tokens[r] != (Token{Seq: flat / 4, Pos: flat % 4, ID: ids[flat]}) {
				t.Fatalf("filter %+v: row %d = %v %+v, want flat index %d", c.filter, r, a.Rows[r*3:r*3+3], a.Tokens[r], flat)
			}
		}
	}
}

func TestFileSourceErrors(t *testing.T) {
	dir := t.TempDir()
	trace := writeTrace(t, false, true)
	rows := filepath.Join(dir, "rows.safetensors")
	if err := safetensors.WriteFile(rows, []safetensors.WriteTensor{safetensors.F32("acts", []int{4, 3}, make([]float32, 12))}, nil); err != nil {
		t.Fatal(err)
	}
	two := filepath.Join(dir, "two.safetensors")
	if err := safetensors.WriteFile(two, []safetensors.WriteTensor{safetensors.F32("a", []int{4, 3}, make([]float32, 12)),
		safetensors.F32("b", []int{4, 3}, make([]float32, 12))}, nil); err != nil {
		t.Fatal(err)
	}
	ints := filepath.Join(dir, "ints.safetensors")
	if err := safetensors.WriteFile(ints, []safetensors.WriteTensor{safetensors.I64("a", []int{2, 2}, make([]int64, 4))}, nil); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		src  FileSource
		max  int64
		want string
	}{
		{FileSource{Path: filepath.Join(dir, "missing.safetensors")}, 0, "missing.safetensors"},
		{FileSource{Path: trace, Tensor: "blocks.3.mlp.hook_post"}, 0, `no tensor "blocks.3.mlp.hook_post"`},
		{FileSource{Path: trace, Filter: NoFilter}, 0, "row 2, neuron 1 is NaN"}, // NaN in a kept row
		{FileSource{Path: two}, 0, "which tensor?"},
		{FileSource{Path: ints}, 0, "dtype I64"},
		{FileSource{Path: rows}, 40, "exceeds the activation memory limit"},
		{FileSource{Path: trace, Tensor: "input_ids"}, 0, "dtype I64"},
		{FileSource{Path: two, Tensor: "blocks.0.mlp.hook_post", RowsFallback: true}, 0, `no tensor "blocks.0.mlp.hook_post"`},
		{FileSource{Path: trace, Tensor: "blocks.1.mlp.hook_post", RowsFallback: true}, 0, `no tensor "blocks.1.mlp.hook_post"`},
	}
	for _, c := range cases {
		a := NewActivations(0, c.max)
		err := c.src.AppendTo(context.Background(), a)
		if err == nil || !strings.Contains(err.Error(), c.want) || a.N() != 0 {
			t.Errorf("%s: got %v (%d rows), want an error containing %q", c.src.Describe(), err, a.N(), c.want)
		}
		if c.max > 0 && !errors.As(err, new(*LimitError)) {
			t.Errorf("limit error has type %T", err)
		}
	}
	a0 := NewActivations(0, 0)
	if err := (FileSource{Path: rows, Tensor: "blocks.5.mlp.hook_post", RowsFallback: true}).AppendTo(context.Background(), a0); err != nil || a0.N() != 4 {
		t.Errorf("rows fallback: %v (%d rows)", err, a0.N())
	}
	// A NaN in a pad slot is dropped with the pad.
	a := NewActivations(0, 0)
	if err := (FileSource{Path: writeTrace(t, true, false)}).AppendTo(context.Background(), a); err != nil || a.N() != 7 {
		t.Errorf("NaN in a pad slot: %v (%d rows)", err, a.N())
	}
}

func TestHookName(t *testing.T) {
	for _, c := range []struct {
		layer      int
		hook, want string
	}{
		{3, "", "blocks.3.mlp.hook_post"},
		{3, "mlp.hook_pre", "blocks.3.mlp.hook_pre"},
		{-1, "blocks.2.mlp.hook_post", "blocks.2.mlp.hook_post"},
		{2, "blocks.2.mlp.hook_out", "blocks.2.mlp.hook_post"},
	} {
		if got, err := HookName(c.layer, c.hook); err != nil || got != c.want {
			t.Errorf("HookName(%d, %q) = %q, %v", c.layer, c.hook, got, err)
		}
	}
	for _, c := range []struct {
		layer int
		hook  string
	}{{-1, ""}, {1, "blocks.2.mlp.hook_post"}, {1, "mlp.nope"}} {
		if _, err := HookName(c.layer, c.hook); err == nil {
			t.Errorf("HookName(%d, %q) accepted", c.layer, c.hook)
		}
	}
}

func TestAppendBatchChecks(t *testing.T) {
	a := NewActivations(2, 0)
	b := model.Batch{Size: 1, Len: 2, IDs: []int{1, 2}, Mask: []bool{true, true}}
	if _, err := a.AppendBatch(b, make([]float32, 3), NoFilter); err == nil {
		t.Error("wrong activation size accepted")
	}
	if _, err := a.AppendBatch(model.Batch{Size: 1, Len: 2, IDs: []int{1}}, make([]float32, 4), NoFilter); err == nil {
		t.Error("wrong ids size accepted")
	}
	if err := a.Append([]float32{1, 2}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AppendBatch(b, make([]float32, 4), NoFilter); err == nil {
		t.Error("rows with tokens appended after rows without")
	}
}
