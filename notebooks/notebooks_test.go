package notebooks

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// expect is what each notebook's tiny run must print.
var expect = map[string][]string{
	"01-relation-neurons":    {"verdict", "relations confirmed", "wrote "},
	"02-language-neurons":    {"counted over", "τ (95th percentile", "LAPE, top 5%", "set \\ language", "verdict", "wrote "},
	"03-concept-neurons":     {"suppress ×0", "enhance ×2", "p boot", "CULNIG's pooled random sets", "wrote "},
	"04-neuron-path":         {"mean JAS", "path − activation (remove)", "permutation p", "verdict", "wrote "},
	"05-relation-specific":   {"best AP", "set \\ relation", "set \\ language", "cumulativity of", "relations confirmed by the matrix", "wrote "},
	"06-snmf-features":       {"SNMF: rank", "best feature per concept", "vocabulary projection", "wrote "},
	"07-sae-latents":         {"topk", "standard", "jumprelu", "CE increase", "best latent per concept", "wrote "},
	"08-steering-comparison": {"harmonic", "diff-means", "random", "concept detection", "wrote "},
	"09-spectra":             {"mean over layers", "PR gain", "wrote "},
	"10-bricks":              {"specialisation", "most specialised first", "language (4 groups)"},
	"11-probes":              {"diff-means", "majority", "language (4 classes"},
	"13-data-selection":      {"selection − random", "permutation p", "wrote "},
}

// TestNotebooksRun compiles every notebook and runs it with -budget tiny -out DIR: each must
// exit 0 and print what expect lists for it (a notebook missing from expect is an error).
func TestNotebooksRun(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH")
	}
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if !e.IsDir() || !regexp.MustCompile(`^\d\d-`).MatchString(e.Name()) {
			continue
		}
		n++
		t.Run(e.Name(), func(t *testing.T) {
			if _, ok := expect[e.Name()]; !ok {
				t.Errorf("%s is not in expect: say what its tiny run must print", e.Name())
			}
			if _, err := os.Stat(filepath.Join(e.Name(), "README.md")); err != nil {
				t.Errorf("%s has no README.md showing its output", e.Name())
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, goBin, "run", "./"+e.Name(), "-budget", "tiny", "-out", t.TempDir())
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("go run ./%s -budget tiny: %v\n%s", e.Name(), err, out)
			}
			for _, want := range expect[e.Name()] {
				if !strings.Contains(string(out), want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
		})
	}
	if n == 0 {
		t.Fatal("no notebooks found")
	}
}
