package safetensors_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/neuronscope/neuronscope/model/safetensors"
)

func Example() {
	dir, err := os.MkdirTemp("", "safetensors-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// Write a small checkpoint: an F32 matrix, BF16 weights and int64 token ids.
	path := filepath.Join(dir, "model.safetensors")
	err = safetensors.WriteFile(path, []safetensors.WriteTensor{
		safetensors.F32("w", []int{2, 3}, []float32{1, 2, 3, 4, 5, 6}),
		safetensors.BF16("b", []int{2}, []float32{0.5, 1.0039062}), // 1+2^-8 rounds to 1 in BF16
		safetensors.I64("ids", []int{3}, []int64{10, 20, 30}),
	}, map[string]string{"format": "pt"})
	if err != nil {
		log.Fatal(err)
	}

	// Read it back as a checkpoint directory.
	ck, err := safetensors.OpenDir(dir)
	if err != nil {
		log.Fatal(err)
	}
	defer ck.Close() // views from ck are invalid after this
	for _, name := range ck.Names() {
		t, _ := ck.Tensor(name)
		fmt.Println(name, t.DType, t.Shape)
	}
	w, _ := ck.Tensor("w")
	ws, _ := w.Float32s() // zero-copy view of the mmap'd file: read-only
	b, _ := ck.Tensor("b")
	bs, _ := b.Float32s() // converted copy
	fmt.Println(ws, bs)
	ids, _ := ck.Tensor("ids")
	if _, err := ids.Float32s(); err != nil {
		fmt.Println("error:", strings.TrimPrefix(err.Error(), dir+string(filepath.Separator)))
	}
	fmt.Println(ck.DTypes(), ck.StoredBytes())
	// Output:
	// b BF16 [2]
	// ids I64 [3]
	// w F32 [2 3]
	// [1 2 3 4 5 6] [0.5 1]
	// error: model.safetensors: tensor "ids" has dtype I64, which cannot be read as float32 (only F32, F16, BF16, F64)
	// map[BF16:4 F32:24 I64:24] 52
}
