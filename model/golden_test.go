package model

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// golden mirrors golden.json of the shared fixtures (see their NOTES.md).
type golden struct {
	Fixture      string                 `json:"fixture"`
	HookNames    []string               `json:"hook_names"`
	Prompts      [][]int                `json:"prompts"`
	Logits       [][][]float64          `json:"logits"`
	ArgmaxNext   [][]int                `json:"argmax_next"`
	ArgmaxMargin [][]float64            `json:"argmax_margin"`
	Hooks        []map[string]hookStats `json:"hooks"`
	RightPadded  paddedGolden           `json:"batched_right_padded"`
	LeftPadded   paddedGolden           `json:"batched_left_padded"`
	Greedy       struct {
		PromptIndex int       `json:"prompt_index"`
		NNew        int       `json:"n_new"`
		NewTokens   []int     `json:"new_tokens"`
		StepMargins []float64 `json:"step_margins"`
	} `json:"greedy"`
	Grads []gradGolden `json:"grad_logprob_wrt_hook_post"`
	IG    []igGolden   `json:"integrated_gradients"`
}

type hookStats struct {
	Shape         []int     `json:"shape"`
	Mean          float64   `json:"mean"`
	Std           float64   `json:"std"`
	First8        []float64 `json:"first8"`
	LastPosFirst8 []float64 `json:"last_pos_first8"`
}

type paddedGolden struct {
	InputIDs       [][]int     `json:"input_ids"`
	AttentionMask  [][]int     `json:"attention_mask"`
	PositionIDs    [][]int     `json:"position_ids"`
	PadTokenID     int         `json:"pad_token_id"`
	ArgmaxReal     [][]int     `json:"argmax_next_real_positions"`
	LastRealFirst8 [][]float64 `json:"last_real_logits_first8"`
}

type gradGolden struct {
	PromptIndex int                    `json:"prompt_index"`
	TargetPos   int                    `json:"target_pos"`
	TargetToken int                    `json:"target_token"`
	LogProb     float64                `json:"logprob"`
	Grads       map[string][][]float64 `json:"grads"`
}

type igGolden struct {
	PromptIndex     int             `json:"prompt_index"`
	Layer           int             `json:"layer"`
	Hook            string          `json:"hook"`
	M               int             `json:"m"`
	TargetPos       int             `json:"target_pos"`
	TargetToken     int             `json:"target_token"`
	ScaledPositions string          `json:"scaled_positions"`
	Attributions    json.RawMessage `json:"attributions"`
	FFull           float64         `json:"f_full"`
	FBaseline       float64         `json:"f_baseline"`
	SumAttributions float64         `json:"sum_attributions"`
}

func loadGolden(t *testing.T, dir string) *golden {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g golden
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatalf("%s/golden.json: %v", dir, err)
	}
	return &g
}

// close32 is the parity criterion: within 1e-4 absolute or 1e-5 relative.
func close32(got float32, want float64) bool {
	d := float64(got) - want
	if d < 0 {
		d = -d
	}
	a := want
	if a < 0 {
		a = -a
	}
	return d <= 1e-4 || d <= 1e-5*a
}
