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

// TestNotebooksRun compiles every notebook and runs it with -budget tiny: each must exit 0
// and print its verdicts.
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
			for _, want := range []string{"verdict", "relations confirmed", "wrote "} {
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
