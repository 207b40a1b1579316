package train

import (
	"math/rand/v2"
	"testing"
)

func TestDrawPacksWholeSequencesWithoutCrossTargets(t *testing.T) {
	seqs := [][]int{{2, 10, 11}, {2, 20, 21, 22}, {2, 30}, {2, 40, 41, 42, 43}, {2, 50, 51}}
	tr := &Trainer{cfg: Config{BatchSize: 3, Pack: 8}, rng: rand.New(rand.NewPCG(1, 2))}
	seen := 0
	for step := 0; step < 4; step++ {
		rows, targets := tr.draw(seqs)
		if len(rows) != 3 {
			t.Fatalf("%d rows, want 3", len(rows))
		}
		for i, row := range rows {
			if len(row) > 8 || len(row) != len(targets[i]) {
				t.Fatalf("row %v (targets %v): longer than 8 or mismatched", row, targets[i])
			}
			for p := range row {
				switch {
				case p+1 < len(row) && row[p+1] == 2:
					if targets[i][p] != -1 {
						t.Errorf("row %v: position %d predicts across a sequence boundary", row, p)
					}
				case p+1 == len(row):
					if targets[i][p] != -1 {
						t.Errorf("row %v: last position has target %d", row, targets[i][p])
					}
				default:
					if targets[i][p] != row[p+1] {
						t.Errorf("row %v: target at %d is %d, want %d", row, p, targets[i][p], row[p+1])
					}
				}
				if row[p] == 2 {
					seen++
				}
			}
		}
	}
	// Every epoch is a permutation: after 4 steps the count of sequences drawn is whole epochs
	// plus a prefix, never a repeat within an epoch.
	if seen < 12 {
		t.Errorf("only %d sequences in 12 packed rows of up to 8 tokens", seen)
	}
}
