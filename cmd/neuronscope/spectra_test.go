package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/neuronscope/neuronscope/probes/spectra"
)

// readSpectra reads spectra.json from dir with the command line (which names the output
// directory) cleared.
func readSpectra(t *testing.T, dir string) *spectra.Report {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "spectra.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep spectra.Report
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	rep.Provenance.Command = nil
	return &rep
}

// TestSpectraCommand: the command writes the report and both plots; two runs agree exactly;
// a run killed after two batches and resumed gives the same report; with fewer tokens than
// neurons it warns.
func TestSpectraCommand(t *testing.T) {
	data := writeIDData(t, 30)
	base := []string{"spectra", "--model", tiny, "--data", data, "--ctx", "32", "--batch", "4", "--no-progress"}
	a, b := t.TempDir(), filepath.Join(t.TempDir(), "new", "b")
	stdout, stderr, err := run(append(base, "--out", a)...)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"spectra.json", "spectra.png", "spectra.svg"} {
		if st, err := os.Stat(filepath.Join(a, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	if _, err := os.Stat(filepath.Join(a, spectraStateName)); err == nil {
		t.Error("the checkpoint was kept without --keep-state")
	}
	rep := readSpectra(t, a)
	if rep.Schema != spectra.Schema || len(rep.Layers) != 2 || rep.Provenance.ConfigHash == "" || rep.Settings == nil ||
		rep.Layers[1].Post.Point != "blocks.1.mlp.hook_post" || rep.Layers[0].Pre.Tokens < 129 || len(rep.Warnings) != 0 {
		t.Fatalf("report: %+v\n%s", rep, stderr)
	}
	if !strings.Contains(stdout, "PR gain") || !strings.Contains(rep.Provenance.Dataset, "BOS positions left out") {
		t.Errorf("stdout %q, dataset %q", stdout, rep.Provenance.Dataset)
	}
	if _, _, err := run(append(base, "--out", b)...); err != nil {
		t.Fatal(err)
	}
	if rb := readSpectra(t, b); !reflect.DeepEqual(rep, rb) {
		t.Error("two runs of the same settings differ")
	}

	// killed during the second batch (checkpoint every batch: the first is saved), then resumed
	c := t.TempDir()
	if _, _, err := run(append(base, "--out", c, "--checkpoint-every", "1", "--stop-after-batches", "2")...); err == nil ||
		!strings.Contains(err.Error(), "stopped") {
		t.Fatalf("stop: %v", err)
	}
	if _, err := os.Stat(filepath.Join(c, spectraStateName)); err != nil {
		t.Fatalf("no checkpoint after a kill: %v", err)
	}
	_, stderr, err = run(append(base, "--out", c, "--resume", "--keep-state")...)
	if err != nil || !strings.Contains(stderr, "resuming after 1 batches") {
		t.Fatalf("resume: %v\n%s", err, stderr)
	}
	if rc := readSpectra(t, c); !reflect.DeepEqual(rep, rc) {
		t.Errorf("the resumed run differs from an uninterrupted one:\n%+v\n%+v", rc.Layers[0], rep.Layers[0])
	}
	if _, err := spectra.LoadState(filepath.Join(c, spectraStateName), "", spectra.Options{}); err != nil {
		t.Errorf("--keep-state: %v", err)
	}

	// a checkpoint of other settings is refused
	if _, _, err := run(append(base, "--out", c, "--resume", "--layers", "1")...); err == nil || !strings.Contains(err.Error(), "other settings") {
		t.Errorf("resume with other layers: %v", err)
	}

	// few tokens: a warning naming the spectra
	few := writeIDData(t, 2)
	d := t.TempDir()
	_, stderr, err = run("spectra", "--model", tiny, "--data", few, "--layers", "1", "--out", d, "--no-progress", "--eigenvalues")
	if err != nil {
		t.Fatal(err)
	}
	rep = readSpectra(t, d)
	if !strings.Contains(stderr, "warning: blocks.1.mlp.hook_pre") || len(rep.Warnings) != 2 || len(rep.Layers) != 1 ||
		len(rep.Layers[0].Post.Eigenvalues) != 128 {
		t.Errorf("few tokens: warnings %v, stderr %q", rep.Warnings, stderr)
	}
}

// TestSpectraBadInput: every bad input is a usage error naming the flag or file, and leaves no
// output directory behind.
func TestSpectraBadInput(t *testing.T) {
	data := writeIDData(t, 3)
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("x"), 0o644)
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte("[1, 2, 999]\n"), 0o644)
	out := filepath.Join(dir, "out", "spectra")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--data", data, "--out", out, "--layers", "5"}, "--layers"},
		{[]string{"--data", data, "--out", out, "--layers", "x"}, "--layers"},
		{[]string{"--data", data, "--out", filepath.Join(file, "sub")}, "--out"},
		{[]string{"--data", data, "--out", file}, "--out"},
		{[]string{"--data", filepath.Join(dir, "none.jsonl"), "--out", out}, "--data"},
		{[]string{"--data", bad, "--out", out}, "bad.jsonl"},
		{[]string{"--data", "x.csv", "--out", out}, "--data"},
		{[]string{"--data", data, "--out", out, "--ctx", "1000"}, "--ctx"},
		{[]string{"--data", data, "--out", out, "--batch", "0"}, "--batch"},
		{[]string{"--data", data}, "--out"},
	} {
		_, _, err := run(append([]string{"spectra", "--model", tiny, "--no-progress"}, c.args...)...)
		var u usageError
		if !errors.As(err, &u) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want a usage error naming %s", c.args, err, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "out")); err == nil {
		t.Error("a failed run left its output directory behind")
	}
}

// TestSpectraCtrlC: SIGINT during a run finishes the batch, checkpoints and fails naming
// --resume; the resumed run writes the report of an uninterrupted one.
func TestSpectraCtrlC(t *testing.T) {
	data := writeIDData(t, 20)
	args := func(out string, extra ...string) []string {
		return append([]string{"spectra", "--model", tiny, "--data", data, "--out", out, "--ctx", "20", "--batch", "3",
			"--checkpoint-every", "100", "--no-progress"}, extra...)
	}
	full := t.TempDir()
	if _, _, err := run(args(full)...); err != nil {
		t.Fatal(err)
	}
	cut := t.TempDir()
	spectraAfterBatch = func(ctx context.Context, n int64) {
		if n != 3 {
			return
		}
		syscall.Kill(os.Getpid(), syscall.SIGINT)
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Second):
			t.Error("SIGINT did not reach the run")
		}
	}
	_, _, err := run(args(cut)...)
	spectraAfterBatch = nil
	if err == nil || !strings.Contains(err.Error(), "continue with --resume") {
		t.Fatalf("interrupted run: %v", err)
	}
	_, stderr, err := run(args(cut, "--resume")...)
	if err != nil || !strings.Contains(stderr, "resuming after 3 batches") {
		t.Fatalf("resume: %v\n%s", err, stderr)
	}
	if a, b := readSpectra(t, full), readSpectra(t, cut); !reflect.DeepEqual(a, b) {
		t.Error("the resumed run differs from an uninterrupted one")
	}
}
