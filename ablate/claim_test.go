package ablate_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/ablate"
	"github.com/neuronscope/neuronscope/hooks"
)

// TestVerifyClaim: testing a set named "brick" as a claim about group r1 gives exactly the
// verification Matrix gives the same neurons named r1, and an unknown group is an error.
func TestVerifyClaim(t *testing.T) {
	m := tinyModel(t)
	set := tinySet(t, m, 45)
	e, err := ablate.NewEval(m, set, nil, ablate.EvalOptions{BatchSize: 16})
	if err != nil {
		t.Fatal(err)
	}
	ns := scored(post(0, 1), post(0, 2), post(1, 3), post(1, 9), post(1, 10), post(1, 30))
	opt := ablate.MatrixOptions{Key: "relation", Random: 3, Seed: 2, Resamples: 150}
	named, err := ablate.Matrix(e, []hooks.NeuronGroup{{Name: "r1", Neurons: ns}}, opt)
	if err != nil {
		t.Fatal(err)
	}
	brick, err := ablate.Matrix(e, []hooks.NeuronGroup{{Name: "brick", Neurons: ns}}, opt)
	if err != nil {
		t.Fatal(err)
	}
	if brick.Verifications[0] != nil {
		t.Fatal("a set named after no group was verified")
	}
	got, err := brick.VerifyClaim(e, 0, "r1", false, opt)
	if err != nil {
		t.Fatal(err)
	}
	want := named.Verifications[0]
	if !reflect.DeepEqual(got, want) {
		t.Errorf("VerifyClaim:\n%+v\nMatrix on the set named r1:\n%+v", got, want)
	}
	if !strings.Contains(got.Statistic, "relation=r1") {
		t.Errorf("statistic %q", got.Statistic)
	}
	if _, err := brick.VerifyClaim(e, 0, "r9", false, opt); err == nil {
		t.Error("an unknown group was verified")
	}
	if _, err := brick.VerifyClaim(e, 0, "r1", true, opt); err == nil {
		t.Error("a claim on texts was verified without texts")
	}
	if _, err := brick.VerifyClaim(e, 3, "r1", false, opt); err == nil {
		t.Error("a row out of range was verified")
	}
}

// TestVerifyClaimOnTexts: a claim on a text group equals the text verification Matrix gives
// the same neurons named after that group.
func TestVerifyClaimOnTexts(t *testing.T) {
	m := tinyModel(t)
	set := tinySet(t, m, 30)
	texts := &ablate.TextSet{Source: "tiny texts"}
	for i := range 24 {
		ids := make([]int, 4+i%5)
		for j := range ids {
			ids[j] = (i*13 + j*7) % m.Config.DVocab
		}
		texts.Items = append(texts.Items, ablate.Text{ID: string(rune('a' + i)), IDs: ids, Labels: map[string]string{"language": []string{"x", "y"}[i%2]}})
	}
	e, err := ablate.NewEval(m, set, texts, ablate.EvalOptions{BatchSize: 8})
	if err != nil {
		t.Fatal(err)
	}
	ns := scored(post(0, 4), post(1, 5), post(1, 6), post(0, 30))
	opt := ablate.MatrixOptions{Key: "relation", TextKey: "language", Random: 3, Seed: 9, Resamples: 100}
	named, err := ablate.Matrix(e, []hooks.NeuronGroup{{Name: "y", Neurons: ns}}, opt)
	if err != nil {
		t.Fatal(err)
	}
	brick, err := ablate.Matrix(e, []hooks.NeuronGroup{{Name: "brick", Neurons: ns}}, opt)
	if err != nil {
		t.Fatal(err)
	}
	got, err := brick.VerifyClaim(e, 0, "y", true, opt)
	if err != nil {
		t.Fatal(err)
	}
	if want := named.Verifications[0]; want == nil || !reflect.DeepEqual(got, want) {
		t.Errorf("VerifyClaim on texts:\n%+v\nMatrix on the set named y:\n%+v", got, want)
	}
	if _, err := brick.VerifyClaim(e, 0, "y", false, opt); err == nil {
		t.Error("a text group was found among the questions")
	}
}
