package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestTiny runs the notebook on its tiny budget: 40 questions, every table printed.
func TestTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("runs NeuronPath on 40 questions")
	}
	var buf bytes.Buffer
	if err := run(&buf, "", "", true); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"40 questions (1 per relation and language), m = 10", "random (×3)", "mean JAS: path", "path similarity by relation"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, buf.String())
		}
	}
}
