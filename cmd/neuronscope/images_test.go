package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/ablate"
	"github.com/neuronscope/neuronscope/attribute"
	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/internal/fixtures"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/safetensors"
	"github.com/neuronscope/neuronscope/model/tensor"
	"github.com/neuronscope/neuronscope/model/vision"
	"github.com/neuronscope/neuronscope/probes/labels"
	"github.com/neuronscope/neuronscope/probes/profile"
)

// vitFixture is the ViT fixture's directory (the test is skipped without shared fixtures).
func vitFixture(t *testing.T) string {
	t.Helper()
	fixtures.Dir(t)
	return filepath.Join(fixtures.FamiliesRoot(), "vit-random")
}

// badImages writes an undecodable file and a grayscale PNG (1 channel; the fixture's
// preprocessor does not convert to RGB) into dir.
func badImages(t *testing.T, dir string) (notImage, gray string) {
	t.Helper()
	notImage, gray = filepath.Join(dir, "x.png"), filepath.Join(dir, "gray.png")
	if err := os.WriteFile(notImage, []byte("not an image"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(gray)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, image.NewGray(image.Rect(0, 0, 32, 32))); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return notImage, gray
}

// wantUsage checks that each command fails with a usage error (exit 2) containing its text
// and leaves no file at out.
func wantUsage(t *testing.T, out string, cases [][]string) {
	t.Helper()
	for _, c := range cases {
		args, want := c[:len(c)-1], c[len(c)-1]
		_, _, err := run(args...)
		var u usageError
		if err == nil || !errors.As(err, &u) || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: error %v, want a usage error containing %q", args, err, want)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("a failed run left %s", out)
	}
}

// TestAttributeImage: attribute --image on the ViT fixture: the default target is the
// predicted class, a label name and a class id name the same target, integrated gradients at
// blocks.0.mlp.hook_post (zero baseline, 20 left steps, CLS row) are the golden's, a black
// baseline is recorded and changes f(b); bad images, unknown labels and text-only settings are
// usage errors naming the flag or file.
func TestAttributeImage(t *testing.T) {
	vit := vitFixture(t)
	dir := t.TempDir()
	img := filepath.Join(vit, "image_0.png")
	var g struct {
		IG []struct {
			ScaledPositions string          `json:"scaled_positions"`
			Attributions    json.RawMessage `json:"attributions"`
			FFull           float64         `json:"f_full"`
			FBaseline       float64         `json:"f_baseline"`
		} `json:"integrated_gradients"`
	}
	data, err := os.ReadFile(filepath.Join(vit, "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	var want []float64
	var fFull, fBase float64
	for _, ig := range g.IG {
		if ig.ScaledPositions == "cls" {
			json.Unmarshal(ig.Attributions, &want)
			fFull, fBase = ig.FFull, ig.FBaseline
		}
	}
	if len(want) == 0 {
		t.Fatal("golden.json has no CLS-row integrated gradients")
	}
	for _, target := range [][]string{nil, {"--target", "deer"}, {"--target", "4"}, {"--target-token", "4"}} {
		out := filepath.Join(dir, "ig.safetensors")
		args := append([]string{"attribute", "--model", vit, "--image", img, "--method", "ig", "--hooks", "blocks.0.mlp.hook_post", "--out", out}, target...)
		stdout, _, err := run(args...)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(stdout, "class 4 (deer)") {
			t.Errorf("%v: stdout %q", target, stdout)
		}
		f, err := safetensors.OpenFile(out)
		if err != nil {
			t.Fatal(err)
		}
		tt, ok := f.Tensor("blocks.0.mlp.hook_post")
		if !ok {
			t.Fatal("no blocks.0.mlp.hook_post scores")
		}
		view, err := tt.Float32s()
		if err != nil {
			t.Fatal(err)
		}
		got := append([]float32(nil), view...) // the view is of the mapped file
		f.Close()
		var scale, worst float64
		for i, w := range want {
			scale = math.Max(scale, math.Abs(w))
			worst = math.Max(worst, math.Abs(float64(got[i])-w))
		}
		if worst > 1e-4*scale {
			t.Errorf("%v: CLS-row attributions differ from the golden by %.3g (scale %.3g)", target, worst, scale)
		}
	}
	out := filepath.Join(dir, "ig.json")
	if _, _, err := run("attribute", "--model", vit, "--image", img, "--method", "ig", "--baseline", "black", "--hooks", "blocks.0.mlp.hook_post", "--out", out); err != nil {
		t.Fatal(err)
	}
	rep, err := attribute.ReadReport(out)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Baseline != "black image" || rep.Image != img || rep.TargetString != "deer" || math.Abs(rep.FFull-fFull) > 1e-5 ||
		math.Abs(rep.FBaseline["blocks.0.mlp.hook_post"]-fBase) < 1e-6 {
		t.Errorf("black baseline report: baseline %q image %q target %q f %g f(b) %v (zero baseline's f(b) %g)",
			rep.Baseline, rep.Image, rep.TargetString, rep.FFull, rep.FBaseline, fBase)
	}
	notImage, gray := badImages(t, dir)
	bad := filepath.Join(dir, "bad.json")
	base := []string{"attribute", "--model", vit, "--out", bad}
	wantUsage(t, bad, [][]string{
		append(base, "--image", notImage, notImage+": not a PNG or JPEG"),
		append(base, "--image", gray, "3-channel RGB"),
		append(base, "--image", img, "--target", "spaceship", `"spaceship" is neither a class id nor a label`),
		append(base, "--image", img, "--target-token", "10", "outside the model's 10 classes"),
		append(base, "--image", img, "--target-pos", "3", "CLS"),
		append(base, "--image", img, "--image", img, "one image"),
		append(base, "--ids", "1,2", "--target-token", "1", "image classifier"),
		append(base, "--ids", "1,2", "--image", img, "not both"),
		append(base, "--image", img, "--baseline", "black", "--method", "gradient", "--method ig"),
		{"attribute", "--model", tiny, "--image", img, "--out", bad, "language model"},
		{"attribute", "--model", tiny, "--ids", "1,2", "--target-token", "1", "--method", "ig", "--baseline", "black", "--out", bad, "--baseline black is for images"},
	})
}

// TestFindPathImages: find path on the ViT fixture's images: --image files take the predicted
// class, an --images list its labels (by name or id); the set holds a path per image with one
// neuron per layer, the items' CLS position and class, and the path similarity by class; the
// search's JAS is JointAttributionImage's; bad lists and mixed inputs are usage errors.
func TestFindPathImages(t *testing.T) {
	vit := vitFixture(t)
	dir := t.TempDir()
	img0, img1 := filepath.Join(vit, "image_0.png"), filepath.Join(vit, "image_1.png")
	list := filepath.Join(dir, "val.jsonl")
	os.WriteFile(list, []byte(`{"image": "`+img0+`", "label": "deer"}`+"\n"+`{"image": "`+img1+`", "class": 4}`+"\n"), 0o644)
	out := filepath.Join(dir, "paths.json")
	stdout, _, err := run("find", "path", "--model", vit, "--images", list, "--compare", "class", "--out", out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, "2 images") || !strings.Contains(stdout, "same 0.") {
		t.Errorf("stdout %q", stdout)
	}
	set, err := hooks.ReadNeuronSet(out)
	if err != nil {
		t.Fatal(err)
	}
	st, err := attribute.PathSettingsOf(set)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Items) != 2 || st.Items[0].Token != 4 || st.Items[1].Token != 4 || st.Items[0].Position != 0 ||
		st.Items[1].Labels["class"] != "deer" || st.Similarity == nil || st.Similarity.SamePairs != 1 {
		t.Fatalf("settings %+v", st)
	}
	m, err := model.Load(vit)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	proc, err := vision.Load(vit)
	if err != nil {
		t.Fatal(err)
	}
	px, err := proc.ReadFiles(img1)
	if err != nil {
		t.Fatal(err)
	}
	g, ok := set.Group("path/image_1")
	if !ok || len(g) != m.Config.NLayers {
		t.Fatalf("path/image_1: %v", g)
	}
	var path [][]int
	for l, n := range g {
		if n.Layer != l {
			t.Errorf("path neuron in layer %d at %d", n.Layer, l)
		}
		path = append(path, []int{n.Index})
	}
	jas, err := attribute.JointAttributionImage(m, px, 4, path, attribute.PathOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(jas-st.Items[1].JAS) > 1e-6*math.Max(1, math.Abs(jas)) {
		t.Errorf("JAS %g in the set, %g recomputed", st.Items[1].JAS, jas)
	}
	// --image without a label: the predicted class (image_1: bird, 2).
	if _, _, err := run("find", "path", "--model", vit, "--image", img1, "--out", out); err != nil {
		t.Fatal(err)
	}
	set, _ = hooks.ReadNeuronSet(out)
	if st, err := attribute.PathSettingsOf(set); err != nil || st.Items[0].Token != 2 || st.Items[0].Labels["class_source"] != "predicted" {
		t.Errorf("predicted class: %+v %v", st, err)
	}
	notImage, gray := badImages(t, dir)
	bad := filepath.Join(dir, "bad.json")
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(text), 0o644)
		return p
	}
	base := []string{"find", "path", "--model", vit, "--out", bad}
	wantUsage(t, bad, [][]string{
		append(base, "--image", notImage, notImage+": not a PNG or JPEG"),
		append(base, "--image", gray, "3-channel RGB"),
		append(base, "--images", write("l1.jsonl", `{"image": "`+img0+`", "label": "spaceship"}`), "l1.jsonl:1"),
		append(base, "--images", write("l2.jsonl", `{"image": "`+img0+`", "label": 10}`), "not a class id"),
		append(base, "--images", write("l3.jsonl", `{"img": "`+img0+`"}`), `"image" must be a file path`),
		append(base, "--images", write("l4.jsonl", "\n"), "has no images"),
		append(base, "--images", filepath.Join(dir, "missing.jsonl"), "missing.jsonl"),
		append(base, "--image", img0, "--position", "3", "CLS"),
		append(base, "--image", img0, "--eval", list, "not both"),
		append(base, "--eval", list, "image classifier"),
		{"find", "path", "--model", tiny, "--image", img0, "--out", bad, "language model"},
	})
}

// TestProfileImages: profile over the ViT fixture's images counts every token of every image
// (CLS and patches), and each neuron's count, mean, population variance, max and min are those
// of the activations of plain forward passes batched as the run batched them (1 and 2 images),
// which checks the per-batch merging; the top example names its patch. Mixed inputs and bad
// images are usage errors.
func TestProfileImages(t *testing.T) {
	vit := vitFixture(t)
	dir := t.TempDir()
	img0, img1 := filepath.Join(vit, "image_0.png"), filepath.Join(vit, "image_1.png")
	list := filepath.Join(dir, "imgs.jsonl")
	os.WriteFile(list, []byte(`{"image": "`+img0+`"}`+"\n"+`{"image": "`+img1+`", "label": "bird"}`+"\n"), 0o644)
	var reps []*profile.Report
	for _, batch := range []string{"1", "2"} {
		out := filepath.Join(dir, "prof"+batch)
		if _, _, err := run("profile", "--model", vit, "--images", list, "--batch", batch, "--no-progress", "--out", out); err != nil {
			t.Fatal(err)
		}
		rep, err := profile.ReadReport(filepath.Join(out, "profile.json"))
		if err != nil {
			t.Fatal(err)
		}
		reps = append(reps, rep)
	}
	m, err := model.Load(vit)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	proc, _ := vision.Load(vit)
	px, err := proc.ReadFiles(img0, img1)
	if err != nil {
		t.Fatal(err)
	}
	// The reference activations of each run come from forward passes batched as it batched
	// them (BLAS results can depend on the batch's shape in the last bit).
	T, n := m.Config.MaxPos, m.Config.DMLP
	acts := func(batch int) map[int][]float32 {
		out := map[int][]float32{}
		per := len(px.Data) / 2
		for lo := 0; lo < 2; lo += batch {
			sub := tensor.From(px.Data[lo*per:(lo+batch)*per], batch, 3, px.Shape[2], px.Shape[3])
			res, err := m.ForwardImages(sub, hooks.Capture("blocks.*.mlp.hook_post"))
			if err != nil {
				t.Fatal(err)
			}
			for l := 0; l < m.Config.NLayers; l++ {
				a, _ := res.Cache.Get(hooks.At(l, hooks.MLPPost))
				out[l] = append(out[l], a.Data...)
			}
		}
		return out
	}
	for bi, rep := range reps {
		ref := acts(bi + 1)
		if rep.Tokens != int64(2*T) || rep.Contexts != 2 || len(rep.Points) != m.Config.NLayers {
			t.Fatalf("tokens %d contexts %d points %d", rep.Tokens, rep.Contexts, len(rep.Points))
		}
		for _, pr := range rep.Points {
			a := ref[pr.Layer]
			for _, nr := range pr.Neurons {
				var sum float64
				hi, lo := float32(math.Inf(-1)), float32(math.Inf(1))
				for k := 0; k < 2*T; k++ {
					v := a[k*n+nr.Index]
					sum += float64(v)
					hi, lo = max(hi, v), min(lo, v)
				}
				mean := sum / float64(2*T)
				var ss float64
				for k := 0; k < 2*T; k++ {
					d := float64(a[k*n+nr.Index]) - mean
					ss += d * d
				}
				if v := ss / float64(2*T); math.Abs(nr.Variance-v) > 1e-9*math.Max(1, v) {
					t.Fatalf("%s %d: variance %.17g, population variance of the forward %.17g", pr.Hook, nr.Index, nr.Variance, v)
				}
				if nr.Count != int64(2*T) || math.Abs(nr.Mean-mean) > 1e-6 || nr.Max != hi || nr.Min != lo {
					t.Fatalf("%s %d: count %d mean %g max %g min %g; forward %g %g %g", pr.Hook, nr.Index, nr.Count, nr.Mean, nr.Max, nr.Min, sum/float64(2*T), hi, lo)
				}
			}
		}
	}
	a := reps[1].Points[1].Neurons[5]
	top := a.TopMax[0]
	if top.Tokens[top.MaxIndex] != fmt.Sprintf("[patch %d,%d]", (top.Pos-1)/4, (top.Pos-1)%4) && top.Pos != 0 {
		t.Errorf("top example at position %d named %q", top.Pos, top.Tokens[top.MaxIndex])
	}
	notImage, _ := badImages(t, dir)
	bad := filepath.Join(dir, "bad")
	wantUsage(t, bad, [][]string{
		{"profile", "--model", vit, "--image", notImage, "--out", bad, notImage + ": not a PNG or JPEG"},
		{"profile", "--model", vit, "--image", img0, "--data", list, "--out", bad, "not both"},
		{"profile", "--model", vit, "--image", img0, "--ctx", "8", "--out", bad, "--ctx"},
		{"profile", "--model", tiny, "--image", img0, "--out", bad, "language model"},
	})
}

// TestVerifyPathImages: verify --experiment path on the images find path ran on: a label per
// path kind with remove and enhance verifications at the CLS token, P before equal to the
// images' mean class probability; a set whose item is not among the images, a label that
// contradicts the set's target and other experiments are usage errors.
func TestVerifyPathImages(t *testing.T) {
	vit := vitFixture(t)
	dir := t.TempDir()
	img0, img1 := filepath.Join(vit, "image_0.png"), filepath.Join(vit, "image_1.png")
	list := filepath.Join(dir, "val.jsonl")
	os.WriteFile(list, []byte(`{"image": "`+img0+`", "label": "deer"}`+"\n"+`{"image": "`+img1+`", "label": "bird"}`+"\n"), 0o644)
	paths := filepath.Join(dir, "paths.json")
	if _, _, err := run("find", "path", "--model", vit, "--images", list, "--compare", "class", "--out", paths); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "labels.json")
	if _, _, err := run("verify", "--model", vit, "--neurons", paths, "--images", list, "--experiment", "path", "--random", "3",
		"--resamples", "50", "--permutations", "10", "--no-progress", "--out", out); err != nil {
		t.Fatal(err)
	}
	lf, err := labels.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(lf.Labels) != 3 || len(lf.Labels[0].Verifications) != 2 || len(lf.ItemEffects) != 1 {
		t.Fatalf("labels %d, item effects %d", len(lf.Labels), len(lf.ItemEffects))
	}
	// golden probs: image 0 class 4 (deer), image 1 class 2 (bird)
	var g struct {
		Probs [][]float64 `json:"probs"`
	}
	data, _ := os.ReadFile(filepath.Join(vit, "golden.json"))
	json.Unmarshal(data, &g)
	want := (g.Probs[0][4] + g.Probs[1][2]) / 2
	if got := lf.ItemEffects[0].Rows[0].Before; math.Abs(got-want) > 1e-5 {
		t.Errorf("P before %g, golden mean class probability %g", got, want)
	}
	other := filepath.Join(dir, "other.jsonl")
	os.WriteFile(other, []byte(`{"image": "`+img0+`", "label": "cat"}`+"\n"+`{"image": "`+img1+`"}`+"\n"), 0o644)
	only1 := filepath.Join(dir, "only1.jsonl")
	os.WriteFile(only1, []byte(`{"image": "`+img1+`"}`+"\n"), 0o644)
	bad := filepath.Join(dir, "bad.json")
	base := []string{"verify", "--model", vit, "--neurons", paths, "--no-progress", "--out", bad}
	wantUsage(t, bad, [][]string{
		append(base, "--images", other, "--experiment", "path", "but the image's label is 3 (cat)"),
		append(base, "--images", only1, "--experiment", "path", "path item image_0 is none of the images"),
		append(base, "--images", list, "--experiment", "matrix", "only the path experiment"),
		append(base, "--images", list, "--experiment", "path", "--eval", list, "not both"),
	})
}

// TestClassLensCLI: decode --resid --image prints the class lens of the ViT fixture, whose last
// layer ranks the predicted class (deer) first; weight decoding and prompts are refused on it.
func TestClassLensCLI(t *testing.T) {
	vit := vitFixture(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "lens.json")
	stdout, _, err := run("decode", "--resid", "--model", vit, "--image", filepath.Join(vit, "image_0.png"), "--out", out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, "class lens") || !strings.Contains(stdout, "0:[CLS]") {
		t.Errorf("stdout %q", stdout)
	}
	var rep attribute.LensReport
	data, _ := os.ReadFile(out)
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	last := rep.Layers[len(rep.Layers)-1].Positions[0]
	if rep.Procedure != attribute.ClassLensProcedure || last.Top[0].Token != "deer" || last.Next == nil || last.Next.ID != 4 || last.Next.Rank != 1 {
		t.Errorf("class lens: %+v", last)
	}
	bad := filepath.Join(dir, "bad.json")
	wantUsage(t, bad, [][]string{
		{"decode", "--model", vit, "--out", bad, "image classifier"},
		{"decode", "--model", vit, "--image", filepath.Join(vit, "image_0.png"), "--out", bad, "--image applies to the logit lens"},
		{"decode", "--resid", "--model", vit, "--ids", "1,2", "--out", bad, "give --image"},
		{"decode", "--resid", "--model", tiny, "--image", filepath.Join(vit, "image_0.png"), "--out", bad, "language model"},
	})
}

// TestTextOnlyRefuseImageModel: commands that work on text refuse an image classifier with a
// usage error naming the command and the model type, before any output.
func TestTextOnlyRefuseImageModel(t *testing.T) {
	vit := vitFixture(t)
	dir := t.TempDir()
	facts := filepath.Join(dir, "facts.jsonl")
	os.WriteFile(facts, []byte(`{"prompts": ["a b"], "target": "c"}`+"\n"), 0o644)
	eval := filepath.Join(dir, "eval.jsonl")
	os.WriteFile(eval, []byte(`{"id": "q", "prompt": "a b", "answer": "c", "labels": {"relation": "r"}}`+"\n"), 0o644)
	neurons := filepath.Join(dir, "n.json")
	os.WriteFile(neurons, []byte(`{"schema_version": "neuronscope.neurons/v1", "tap": "mlp.hook_post", "groups": {"r": [{"layer": 0, "index": 1}]}}`), 0o644)
	out := filepath.Join(dir, "out.json")
	wantUsage(t, out, [][]string{
		{"generate", "--model", vit, "--ids", "1,2", "--max-new", "2", "generate works on text and " + vit + " is an image classifier (model_type vit)"},
		{"tokenize", "--model", vit, "--text", "hi", "is an image classifier"},
		{"find", "knowledge", "--model", vit, "--data", facts, "--out", out, "find knowledge works on text"},
		{"find", "concept", "--model", vit, "--task", eval, "--control", eval, "--out", out, "find concept works on text"},
		{"find", "relation", "--model", vit, "--eval", eval, "--out", out, "find relation works on text"},
		{"ablate", "selectivity", "--model", vit, "--neurons", neurons, "--eval", eval, "--group", "relation=r", "--out", out, "ablate selectivity works on text"},
		{"verify", "--model", vit, "--neurons", neurons, "--eval", eval, "--out", out, "image classifier (model_type vit)"},
		{"profile", "--model", vit, "--data", facts, "--out", filepath.Join(dir, "p"), "image classifier (model_type vit)"},
		{"trace", "--model", vit, "--ids", "1,2", "--out", filepath.Join(dir, "t.safetensors"), "--image"},
	})
}

// TestSelectivityImagesCLI: ablate selectivity --images on the ViT fixture reports per-class
// accuracy (both images correctly classified before ablation) with random sets and a verdict;
// an image without a label, a group nobody has and --eval with images are usage errors.
func TestSelectivityImagesCLI(t *testing.T) {
	vit := vitFixture(t)
	dir := t.TempDir()
	img0, img1 := filepath.Join(vit, "image_0.png"), filepath.Join(vit, "image_1.png")
	list := filepath.Join(dir, "val.jsonl")
	os.WriteFile(list, []byte(`{"image": "`+img0+`", "label": "deer", "split": "x"}`+"\n"+`{"image": "`+img1+`", "label": 2, "split": "y"}`+"\n"), 0o644)
	neurons := filepath.Join(dir, "n.json")
	os.WriteFile(neurons, []byte(`{"schema_version": "neuronscope.neurons/v1", "tap": "mlp.hook_post", "groups": {"deer": [{"layer": 1, "index": 1}, {"layer": 0, "index": 7}]}}`), 0o644)
	out := filepath.Join(dir, "sel.json")
	if _, _, err := run("ablate", "selectivity", "--model", vit, "--images", list, "--neurons", neurons, "--group", "class=deer", "--out", out); err != nil {
		t.Fatal(err)
	}
	doc, err := ablate.ReadSelectivityFile(out)
	if err != nil {
		t.Fatal(err)
	}
	r := doc.Report
	if r.BaselineAccuracy != 1 || len(r.Groups) != 2 || len(r.Random.Sets) != ablate.DefaultRandomSets || r.Verdict == "" ||
		r.Ablation.Positions != "every token (CLS and patches) of every image" {
		t.Errorf("report: %+v", r)
	}
	if _, _, err := run("ablate", "selectivity", "--model", vit, "--images", list, "--neurons", neurons, "--set-group", "deer", "--group", "split=x", "--json"); err != nil {
		t.Errorf("grouping by another label of the list: %v", err)
	}
	bad := filepath.Join(dir, "bad.json")
	base := []string{"ablate", "selectivity", "--model", vit, "--neurons", neurons, "--out", bad}
	wantUsage(t, bad, [][]string{
		append(base, "--image", img0, "--group", "class=deer", "has no label"),
		append(base, "--images", list, "--group", "class=cat", "no image has class=cat"),
		append(base, "--images", list, "--eval", list, "--group", "class=deer", "not both"),
	})
}

// TestTraceImageList: trace --images prints each image's class with its label and the
// accuracy on the labelled images, and writes one logits row per image.
func TestTraceImageList(t *testing.T) {
	vit := vitFixture(t)
	dir := t.TempDir()
	list := filepath.Join(dir, "val.jsonl")
	os.WriteFile(list, []byte(`{"image": "`+filepath.Join(vit, "image_0.png")+`", "label": "deer"}`+"\n"+
		`{"image": "`+filepath.Join(vit, "image_1.png")+`", "label": "cat"}`+"\n"), 0o644)
	out := filepath.Join(dir, "t.safetensors")
	stdout, _, err := run("trace", "--model", vit, "--images", list, "--out", out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, "image_0.png: class 4 (deer), label 4 (deer)") || !strings.Contains(stdout, "image_1.png: class 2 (bird), label 3 (cat)") ||
		!strings.Contains(stdout, "accuracy 1/2") {
		t.Errorf("stdout %q", stdout)
	}
	f, err := safetensors.OpenFile(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if tt, ok := f.Tensor("logits"); !ok || fmt.Sprint(tt.Shape) != "[2 10]" {
		t.Errorf("logits %v", tt.Shape)
	}
}
