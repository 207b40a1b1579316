package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/probes/profile"
)

// TestDefaultsAdapt: defaults that do not fit the model or the run adapt with a note: profile's
// --ctx to the model's positions, train's warm-up to --steps. Given explicitly, they are errors
// naming the flag.
func TestDefaultsAdapt(t *testing.T) {
	tmp := t.TempDir()
	out := filepath.Join(tmp, "p")
	_, stderr, err := run("profile", "--model", worldLlama, "--data", filepath.Join(worldDir, "train.txt"), "--out", out,
		"--max-tokens", "300", "--no-progress", "--lm-head", "0")
	if err != nil {
		t.Fatalf("profile with the default --ctx on a 32-position model: %v", err)
	}
	if !strings.Contains(stderr, "note: contexts of 32 tokens") {
		t.Errorf("no note on stderr: %q", stderr)
	}
	rep, err := profile.ReadReport(filepath.Join(out, "profile.json"))
	if err != nil || rep.Settings.Ctx != 32 {
		t.Fatalf("settings ctx: %v %v", rep, err)
	}
	_, _, err = run("profile", "--model", worldLlama, "--data", filepath.Join(worldDir, "train.txt"), "--out", out, "--ctx", "64")
	var u usageError
	if !errors.As(err, &u) || !strings.Contains(err.Error(), "--ctx 64") {
		t.Errorf("explicit --ctx 64: %v", err)
	}

	m := filepath.Join(tmp, "m")
	stdout, stderr, err := run("train", "--world", worldDir, "--out", m, "--steps", "2", "--batch", "4", "--layers", "1",
		"--d-model", "16", "--d-mlp", "16", "--heads", "2", "--kv-heads", "1", "--quiet", "--json")
	if err != nil {
		t.Fatalf("train --steps 2 with the default warm-up: %v", err)
	}
	var tr struct {
		Train struct {
			Warmup int `json:"warmup"`
		} `json:"train"`
	}
	if err := json.Unmarshal([]byte(stdout), &tr); err != nil || tr.Train.Warmup != 2 || !strings.Contains(stderr, "note: warm-up clipped to 2 steps") {
		t.Errorf("warm-up %d (%v), stderr %q", tr.Train.Warmup, err, stderr)
	}
}

// TestRangeErrorsNameFlags: a value out of range is a usage error naming its flag, in every
// command.
func TestRangeErrorsNameFlags(t *testing.T) {
	tmp := t.TempDir()
	data := writeIDData(t, 2)
	facts := filepath.Join(tmp, "f.jsonl")
	os.WriteFile(facts, []byte(`{"prompts":["a"],"target":"b"}`+"\n"), 0o644)
	prof := []string{"profile", "--model", tiny, "--data", data, "--out", filepath.Join(tmp, "p")}
	kn := []string{"find", "knowledge", "--model", tiny, "--data", facts, "--out", filepath.Join(tmp, "k.json")}
	for _, c := range []struct {
		args []string
		flag string
	}{
		{append(prof, "--ctx", "1"), "--ctx 1"},
		{append(prof, "--batch", "0"), "--batch 0"},
		{append(prof, "--top", "0"), "--top 0"},
		{append(prof, "--random", "0"), "--random 0"},
		{append(prof, "--hist-bins", "1"), "--hist-bins 1"},
		{append(prof, "--calib", "0"), "--calib 0"},
		{append(prof, "--checkpoint-every", "0"), "--checkpoint-every 0"},
		{append(prof, "--max-tokens", "-1"), "--max-tokens -1"},
		{append(prof, "--window-before", "-2"), "--window-before -2"},
		{append(kn, "--steps", "0"), "--steps 0"},
		{append(kn, "--threshold", "1.5"), "--threshold 1.5"},
		{append(kn, "--share", "0"), "--share 0"},
		{[]string{"bench", "--seq", "0"}, "--seq 0"},
		{[]string{"bench", "--reps", "-1"}, "--reps -1"},
		{[]string{"report", "--in", tmp, "--out", filepath.Join(tmp, "r.html"), "--limit", "-1"}, "--limit -1"},
		{[]string{"generate", "--model", tiny, "--ids", "1,2", "--max-new", "-1"}, "--max-new"},
		{[]string{"generate", "--model", tiny, "--ids", "1,2", "--max-new", "1000"}, "--max-new 1000"},
		{[]string{"world", "--out", tmp, "--languages", "9"}, "--languages 9"},
		{append(prof, "--ctx", "x"), `--ctx "x": want an integer`},
		{[]string{"world", "--out", tmp, "--seed", "-1"}, `--seed "-1": want a non-negative integer`},
	} {
		_, _, err := run(c.args...)
		var u usageError
		if !errors.As(err, &u) || !strings.Contains(err.Error(), c.flag) {
			t.Errorf("%v: %v, want a usage error naming %q", c.args, err, c.flag)
		}
	}
}

// TestOutputCheckedFirst: an output path that cannot be written is a usage error naming --out
// before any work, in every command that writes one; and a profile with bad --data leaves no
// output directory behind.
func TestOutputCheckedFirst(t *testing.T) {
	tmp := t.TempDir()
	data := writeIDData(t, 2)
	file := filepath.Join(tmp, "file")
	os.WriteFile(file, []byte("x"), 0o644)
	for _, args := range [][]string{
		{"trace", "--model", tiny, "--ids", "1", "--out", "/nonexistent/t.safetensors"},
		{"attribute", "--model", tiny, "--ids", "1,2", "--target-token", "3", "--out", "/nonexistent/a.json"},
		{"decode", "--model", tiny, "--out", "/nonexistent/d.json"},
		{"profile", "--model", tiny, "--data", data, "--out", filepath.Join(file, "p")},
		{"report", "--in", tmp, "--out", "/nonexistent/r.html"},
		{"world", "--out", file},
		{"train", "--world", worldDir, "--out", file},
		{"find", "knowledge", "--model", tiny, "--data", data, "--out", "/nonexistent/k.json"},
		{"find", "language", "--probs", data, "--method", "lape", "--out", "/nonexistent/l.json"},
	} {
		_, _, err := run(args...)
		var u usageError
		if !errors.As(err, &u) || !strings.Contains(err.Error(), "--out") {
			t.Errorf("%v: %v, want a usage error naming --out", args, err)
		}
	}
	bad := filepath.Join(tmp, "bad.jsonl")
	os.WriteFile(bad, []byte("[1, 2, 999]\n"), 0o644)
	out := filepath.Join(tmp, "new", "profile")
	if _, _, err := run("profile", "--model", tiny, "--data", bad, "--out", out); err == nil {
		t.Fatal("bad --data: no error")
	}
	if _, err := os.Stat(filepath.Join(tmp, "new")); err == nil {
		t.Error("a profile with bad --data left an output directory")
	}
}
