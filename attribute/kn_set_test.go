package attribute

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/neuronscope/neuronscope/hooks"
)

// TestKnowledgeNeuronSet: one group per fact (its id, or line<N> when it has none or repeats
// one) scored by the share of prompts, and Dai's relation-level groups (knowledge neurons of
// >= 10% of the relation's facts, here 1 of 3 facts suffices and 0 of 3 does not); the set
// round-trips through the neuronscope.neurons/v1 form.
func TestKnowledgeNeuronSet(t *testing.T) {
	n := func(l, i int) hooks.Neuron { return hooks.NeuronAt(l, hooks.MLPPost, i) }
	rep := &KnowledgeReport{Procedure: KnowledgeProcedure, Steps: 20, Threshold: 0.2, Share: 0.7, Facts: []KnowledgeFactResult{
		{Line: 1, ID: "f1", Relation: "capital_of", Prompts: 4, Neurons: []hooks.Neuron{n(0, 3), n(1, 5)},
			Counts: []KnowledgeCount{{n(0, 3), 3}, {n(1, 5), 4}, {n(1, 9), 1}}},
		{Line: 2, ID: "f1", Relation: "capital_of", Prompts: 2, Neurons: []hooks.Neuron{n(1, 5)}, Counts: []KnowledgeCount{{n(1, 5), 2}}},
		{Line: 3, Relation: "capital_of", Prompts: 3, Neurons: []hooks.Neuron{}, Counts: nil},
		{Line: 4, ID: "f4", Relation: "born_in", Prompts: 3, Neurons: []hooks.Neuron{n(0, 3)}, Counts: []KnowledgeCount{{n(0, 3), 3}}},
	}}
	set := KnowledgeNeuronSet(rep, 0.34)
	var got []string
	for _, g := range set.Groups {
		var s []string
		for _, x := range g.Neurons {
			s = append(s, fmt.Sprintf("%d/%d:%.3g", x.Layer, x.Index, x.Score))
		}
		got = append(got, fmt.Sprintf("%s%v", g.Name, s))
	}
	want := "[f1[1/5:1 0/3:0.75] line2[1/5:1] line3[] f4[0/3:1] relation/born_in[0/3:1] relation/capital_of[1/5:0.667]]"
	if fmt.Sprint(got) != want {
		t.Errorf("groups\n got %v\nwant %s", got, want)
	}
	var buf bytes.Buffer
	if err := set.Write(&buf); err != nil {
		t.Fatal(err)
	}
	back, err := hooks.ParseNeuronSet(buf.Bytes(), "kn.json")
	if err != nil || back.Method != "knowledge" || back.Tap != hooks.MLPPost || len(back.Groups) != 6 {
		t.Fatalf("read back: %v %+v", err, back)
	}
	if g, _ := back.Group("relation/capital_of"); len(g) != 1 || g[0].Neuron != n(1, 5) {
		t.Errorf("relation group read back: %v", g)
	}
	if g := KnowledgeNeuronSet(rep, 0); len(g.Groups[5].Neurons) != 2 {
		t.Errorf("default share 0.1: capital_of relation neurons %v", g.Groups[5].Neurons)
	}
}
