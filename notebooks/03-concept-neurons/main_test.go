package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/hooks"
)

// TestTiny runs the notebook on its tiny budget: it prints every table and writes a neuron set
// with the general group and one group per continent.
func TestTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the model on 250 items")
	}
	var buf bytes.Buffer
	out := filepath.Join(t.TempDir(), "concept.json")
	if err := run(&buf, "", "", out, true); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"items: task 100, control 100, exclusion 50", "general suppress (×0)", "random enhance (×2)", "continent  neurons"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, buf.String())
		}
	}
	set, err := hooks.ReadNeuronSet(out)
	if err != nil || len(set.Groups) != 6 || set.Groups[0].Name != "general" {
		t.Fatalf("neuron set %v (%v)", set, err)
	}
}
