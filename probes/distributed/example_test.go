package distributed_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/probes/distributed"
)

// A dataset in two files is numbered as one process would number it, and cut into the
// calibration shard and batch-aligned shards after it.
func Example() {
	dir, _ := os.MkdirTemp("", "plan")
	defer os.RemoveAll(dir)
	os.WriteFile(filepath.Join(dir, "part-a.jsonl"), []byte("[1,2,3,4,5,6,7,8,9]\n[4,5]\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "part-b.jsonl"), []byte("[6,7,8,9,10,11,12]\n"), 0o644)
	files, _ := distributed.ExpandData([]string{filepath.Join(dir, "part-*.jsonl")})
	plan, _ := distributed.NewPlan(files, corpus.Encoder{BOS: -1, Vocab: 100}, 4, 0)
	fmt.Println(len(files), "files,", plan.Contexts, "contexts,", plan.Tokens, "tokens; file b starts at context", plan.CtxBase[1])
	for _, s := range plan.Shards(2, 2, 2) { // calibration prefix 2 contexts, batches of 2
		fmt.Printf("shard %d: contexts [%d, %d)\n", s.ID, s.Lo, s.Hi)
	}
	_ = plan.Range(corpus.Encoder{BOS: -1, Vocab: 100}, 4, 6, func(c corpus.Context) error {
		fmt.Println("context", c.Index, "document", c.Doc, "ids", c.IDs)
		return nil
	})
	// Output:
	// 2 files, 6 contexts, 18 tokens; file b starts at context 4
	// shard 0: contexts [0, 2)
	// shard 1: contexts [2, 4)
	// shard 2: contexts [4, 6)
	// context 4 document 2 ids [6 7 8 9]
	// context 5 document 2 ids [10 11 12]
}
