package hooks

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func neuronCatalog() Catalog {
	c := Catalog{Shapes: map[Point][]int{}}
	for l := 0; l < 2; l++ {
		for _, s := range []Site{ResidPre, AttnZ, MLPPre, MLPPost, ResidPost} {
			p := At(l, s)
			c.Points = append(c.Points, p)
			switch s {
			case MLPPre, MLPPost:
				c.Shapes[p] = []int{8}
			case AttnZ:
				c.Shapes[p] = []int{2, 3}
			default:
				c.Shapes[p] = []int{4}
			}
		}
	}
	return c
}

func TestRankTiesAndNaN(t *testing.T) {
	p0, p1 := At(0, MLPPost), At(1, MLPPost)
	ns := []ScoredNeuron{
		{Neuron{p1, 3}, 1}, {Neuron{p0, 5}, 2}, {Neuron{p0, 1}, 1}, {Neuron{p1, 0}, math.NaN()}, {Neuron{p0, 2}, -4},
	}
	top := Top(ns, 10)
	want := []string{"blocks.0.mlp.hook_post[5]", "blocks.0.mlp.hook_post[1]", "blocks.1.mlp.hook_post[3]",
		"blocks.0.mlp.hook_post[2]", "blocks.1.mlp.hook_post[0]"}
	for i, n := range top {
		if n.String() != want[i] {
			t.Fatalf("Top order %d: got %s, want %s", i, n, want[i])
		}
	}
	bot := Bottom(ns, 2)
	if len(bot) != 2 || bot[0].Score != -4 || bot[1].Neuron != (Neuron{p0, 1}) {
		t.Errorf("Bottom: %v", bot)
	}
	if ns[0].Score != 1 || ns[0].Index != 3 {
		t.Error("Top changed its input")
	}
	if got := TopAbs(ns, 1); got[0].Score != -4 {
		t.Errorf("TopAbs: %v", got)
	}
	if len(Top(ns, -1)) != 0 || len(Top(ns, 2)) != 2 {
		t.Error("Top k bounds")
	}
}

func TestCheckNeurons(t *testing.T) {
	c := neuronCatalog()
	ok := []Neuron{NeuronAt(0, MLPPost, 7), NeuronAt(1, AttnZ, 5), NeuronAt(1, ResidPost, 3)}
	if err := c.CheckNeurons(ok); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ns   []Neuron
		want string
	}{
		{nil, "empty"},
		{[]Neuron{NeuronAt(2, MLPPost, 0)}, "layer 2 out of range [0, 2)"},
		{[]Neuron{NeuronAt(0, MLPPost, 8)}, "index 8 out of range [0, 8)"},
		{[]Neuron{NeuronAt(0, AttnZ, -1)}, "index -1 out of range [0, 6)"},
		{[]Neuron{NeuronAt(0, MLPPreLinear, 1)}, "this model has no blocks.0.mlp.hook_pre_linear"},
		{[]Neuron{NeuronAt(0, MLPPost, 1), NeuronAt(0, MLPPost, 1)}, "entry 1"},
		{[]Neuron{{Point: Global(Embed), Index: 0}}, "not a per-layer"},
	} {
		err := c.CheckNeurons(tc.ns)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want %q", tc.ns, err, tc.want)
		}
	}
}

func TestNeuronSetRoundTrip(t *testing.T) {
	s := &NeuronSet{Method: "test", Tap: MLPPost, Settings: map[string]any{"k": 2}}
	s.Add("zeta", ScoredNeuron{NeuronAt(1, MLPPost, 3), 0.5}, ScoredNeuron{NeuronAt(0, MLPPre, 2), -1.25})
	s.Add("alpha", ScoredNeuron{NeuronAt(0, MLPPost, 7), 2})
	s.Add("zeta", ScoredNeuron{NeuronAt(0, AttnZ, 4), 0})
	var buf bytes.Buffer
	if err := s.Write(&buf); err != nil {
		t.Fatal(err)
	}
	js := buf.String()
	if !strings.Contains(js, `"schema_version": "neuronscope.neurons/v1"`) || !strings.Contains(js, `"tap": "mlp.hook_pre"`) ||
		strings.Index(js, `"zeta"`) > strings.Index(js, `"alpha"`) {
		t.Fatalf("unexpected JSON:\n%s", js)
	}
	got, err := ParseNeuronSet(buf.Bytes(), "buf")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got.Names(), ",") != "zeta,alpha" || got.Method != "test" || got.Tap != MLPPost {
		t.Fatalf("read back %+v", got)
	}
	z, _ := got.Group("zeta")
	if len(z) != 3 || z[1].Neuron != NeuronAt(0, MLPPre, 2) || z[1].Score != -1.25 || z[2].Site != AttnZ {
		t.Fatalf("zeta read back as %v", z)
	}
	if err := got.Check(neuronCatalog()); err != nil {
		t.Fatal(err)
	}
	if top := got.Top(1); len(top.Groups[0].Neurons) != 1 || len(got.Groups[0].Neurons) != 3 {
		t.Error("Top(1)")
	}
	if all := got.All(); len(all) != 4 {
		t.Errorf("All: %v", all)
	}
	var again bytes.Buffer
	if err := got.Write(&again); err != nil || again.String() != js {
		t.Errorf("write(read(x)) != x: %v\n%s", err, again.String())
	}
}

func TestParseNeuronSetLegacyAndBad(t *testing.T) {
	s, err := ParseNeuronSet([]byte(`[{"layer":1,"index":2},{"layer":0,"index":5,"value":3.5}]`), "old.json")
	if err != nil {
		t.Fatal(err)
	}
	g, _ := s.Group("neurons")
	if s.Tap != MLPPost || len(g) != 2 || g[1].Score != 3.5 || g[0].Neuron != NeuronAt(1, MLPPost, 2) {
		t.Fatalf("legacy array: %+v", s)
	}
	if s, err = ParseNeuronSet([]byte(`{"verdict":"x","neurons":[{"layer":1,"index":2}]}`), "r.json"); err != nil || s.Len() != 1 {
		t.Fatalf("legacy object: %v %v", s, err)
	}
	for _, bad := range []string{
		``, `{}`, `[{"layer":1}]`, `{"schema_version":"neuronscope.neurons/v1","groups":{}}`,
		`{"schema_version":"neuronscope.neurons/v1","tap":"hook_embed","groups":{}}`,
		`{"schema_version":"neuronscope.neurons/v1","tap":"mlp.hook_post","groups":{"a":[{"layer":-1,"index":0}]}}`,
		`{"schema_version":"neuronscope.neurons/v1","tap":"mlp.hook_post","groups":{"a":[{"layer":0,"index":0,"tap":"bogus"}]}}`,
		`{"schema_version":"neuronscope.neurons/v2","tap":"mlp.hook_post","groups":{}}`,
		`{"schema_version":"neuronscope.neurons/v1","tap":"mlp.hook_post","groups":[]}`,
	} {
		if _, err := ParseNeuronSet([]byte(bad), "bad.json"); err == nil || !strings.Contains(err.Error(), "bad.json") {
			t.Errorf("%s: got %v, want an error naming the file", bad, err)
		}
	}
	empty := &NeuronSet{Tap: MLPPost}
	empty.Add("g")
	if err := empty.Check(neuronCatalog()); err == nil {
		t.Error("an empty group passed Check")
	}
	nan := &NeuronSet{Tap: MLPPost}
	nan.Add("g", ScoredNeuron{NeuronAt(0, MLPPost, 0), math.NaN()})
	if _, err := json.Marshal(nan); err == nil {
		t.Error("a NaN score was written")
	}
}

func TestByPoint(t *testing.T) {
	ps, idx := ByPoint([]Neuron{NeuronAt(1, MLPPost, 4), NeuronAt(0, MLPPost, 9), NeuronAt(1, MLPPost, 2), NeuronAt(0, MLPPre, 1)})
	if len(ps) != 3 || ps[0] != At(0, MLPPre) || ps[2] != At(1, MLPPost) || idx[ps[2]][0] != 2 {
		t.Errorf("ByPoint: %v %v", ps, idx)
	}
}
