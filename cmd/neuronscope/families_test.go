package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/internal/fixtures"
	"github.com/neuronscope/neuronscope/model/safetensors"
)

// TestTraceImages: trace --image on the ViT fixture writes the class logits, the pixel values
// and the captured activations, and names each image's class; bad images are usage errors
// naming the file.
func TestTraceImages(t *testing.T) {
	fixtures.Dir(t)
	vit := filepath.Join(fixtures.FamiliesRoot(), "vit-random")
	dir := t.TempDir()
	out := filepath.Join(dir, "v.safetensors")
	stdout, _, err := run("trace", "--model", vit, "--image", filepath.Join(vit, "image_0.png"), "--image", filepath.Join(vit, "image_1.png"),
		"--hooks", "blocks.*.mlp.hook_post,blocks.0.attn.hook_pattern", "--out", out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, "image_0.png: class 4 (deer)") || !strings.Contains(stdout, "image_1.png: class 2 (bird)") {
		t.Errorf("stdout %q", stdout)
	}
	f, err := safetensors.OpenFile(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string]string{"logits": "[2 10]", "pixel_values": "[2 3 32 32]", "blocks.1.mlp.hook_post": "[2 17 64]",
		"blocks.0.attn.hook_pattern": "[2 4 17 17]"}
	for name, shape := range want {
		tt, ok := f.Tensor(name)
		if !ok || fmt.Sprint(tt.Shape) != shape {
			t.Errorf("tensor %s: ok=%v shape %v, want %s", name, ok, tt.Shape, shape)
		}
	}
	notImage := filepath.Join(dir, "x.png")
	os.WriteFile(notImage, []byte("not an image"), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"trace", "--model", vit, "--image", notImage, "--out", filepath.Join(dir, "o.safetensors")}, notImage + ": not a PNG or JPEG"},
		{[]string{"trace", "--model", vit, "--out", filepath.Join(dir, "o.safetensors")}, "give --image"},
		{[]string{"trace", "--model", vit, "--ids", "1,2", "--image", notImage, "--out", filepath.Join(dir, "o.safetensors")}, "not both"},
		{[]string{"trace", "--model", tiny, "--image", notImage, "--out", filepath.Join(dir, "o.safetensors")}, "language model"},
	} {
		_, _, err := run(c.args...)
		var u usageError
		if err == nil || !errors.As(err, &u) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want a usage error containing %q", c.args, err, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "o.safetensors")); err == nil {
		t.Error("a failed trace left an output file")
	}
}

// TestStrictConfig: a config key neuronscope has never seen is a warning by default (printed
// once, in inspect's JSON) and an error with --strict-config; the old
// --allow-unknown-config-keys is accepted as a no-op.
func TestStrictConfig(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"config.json", "model.safetensors"} {
		data, err := os.ReadFile(filepath.Join(tiny, f))
		if err != nil {
			t.Fatal(err)
		}
		if f == "config.json" {
			data = []byte(strings.Replace(string(data), "{", `{"my_new_key": 3,`, 1))
		}
		os.WriteFile(filepath.Join(dir, f), data, 0o644)
	}
	out, stderr, err := run("inspect", "--model", dir, "--json")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(stderr, `"my_new_key"`) != 1 {
		t.Errorf("warning printed %d times: %q", strings.Count(stderr, `"my_new_key"`), stderr)
	}
	var got inspectOut
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got.Warnings) != 1 {
		t.Errorf("inspect warnings %v (%v)", got.Warnings, err)
	}
	if _, _, err := run("inspect", "--model", dir, "--strict-config"); err == nil || !strings.Contains(err.Error(), "my_new_key") {
		t.Errorf("--strict-config: %v", err)
	}
	if _, _, err := run("inspect", "--model", dir, "--allow-unknown-config-keys"); err != nil {
		t.Errorf("--allow-unknown-config-keys: %v", err)
	}
}
