package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/model/tokenizer"
)

func TestWorldCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "w")
	out, _, err := run("world", "--out", dir, "--seed", "3", "--json", "--by-language")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Seed  uint64
		Files []string
		Stats struct {
			TotalFacts  int            `json:"total_facts"`
			VocabSize   int            `json:"vocab_size"`
			TrainLines  int            `json:"train_sentences"`
			TrainFiller map[string]int `json:"train_filler_sentences"`
		}
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got.Seed != 3 || got.Stats.TotalFacts != 570 || len(got.Stats.TrainFiller) != 4 || got.Stats.TrainLines != 5760 {
		t.Errorf("summary %+v", got)
	}
	for _, f := range got.Files {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	if !strings.Contains(strings.Join(got.Files, ","), "train.tlaxo.txt") {
		t.Errorf("--by-language: files %v", got.Files)
	}
	tok, err := tokenizer.Load(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	if tok.VocabSize() != got.Stats.VocabSize {
		t.Errorf("tokenizer vocab %d, summary %d", tok.VocabSize(), got.Stats.VocabSize)
	}
	train, _ := os.ReadFile(filepath.Join(dir, "train.txt"))
	line := strings.SplitN(string(train), "\n", 2)[0]
	enc, err := tok.Encode(line, true)
	if err != nil || len(enc.IDs) != len(strings.Fields(line))+1 {
		t.Errorf("%q → %v (%v)", line, enc.Tokens, err)
	}

	// Same seed again, text summary: identical files.
	dir2 := filepath.Join(t.TempDir(), "w2")
	out, _, err = run("world", "--out", dir2, "--seed", "3", "--by-language")
	if err != nil || !strings.Contains(out, "facts 570") || !strings.Contains(out, "language tlaxo") {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, f := range got.Files {
		a, _ := os.ReadFile(filepath.Join(dir, f))
		b, _ := os.ReadFile(filepath.Join(dir2, f))
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between two runs with seed 3", f)
		}
	}
}

func TestWorldUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"world"},
		{"world", "--out", t.TempDir(), "--languages", "3"},
		{"world", "--out", t.TempDir(), "--seed", "x"},
	} {
		_, _, err := run(args...)
		var u usageError
		if !errors.As(err, &u) {
			t.Errorf("%v: err %v, want a usage error", args, err)
		}
	}
}
