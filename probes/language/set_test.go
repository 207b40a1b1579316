package language

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/hooks"
)

// TestNeuronSet: the set holds every group's assigned neurons at the tap, by ascending score
// (ties by layer and index), an infinite score as MaxScore, and the report in its settings.
func TestNeuronSet(t *testing.T) {
	p := handMade()
	// The bar at the 2nd smallest probability (0) assigns every selected neuron with p > 0,
	// including the filtered L1 N3 (entropy +Inf).
	s, err := LAPE(p, LAPEOptions{TopRate: 0.875, FilterRate: 0.5, BarRatio: 0.125})
	if err != nil {
		t.Fatal(err)
	}
	set, err := s.NeuronSet(NewReport(p, s, nil), "probs.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	if set.Method != "lape" || set.Tap != hooks.MLPPre || strings.Join(set.Names(), ",") != "en,de" {
		t.Fatalf("set %+v", set)
	}
	en, _ := set.Group("en")
	want := []hooks.Neuron{hooks.NeuronAt(0, hooks.MLPPre, 3), hooks.NeuronAt(0, hooks.MLPPre, 0), hooks.NeuronAt(1, hooks.MLPPre, 2),
		hooks.NeuronAt(0, hooks.MLPPre, 2), hooks.NeuronAt(1, hooks.MLPPre, 1), hooks.NeuronAt(1, hooks.MLPPre, 3)}
	if len(en) != len(want) {
		t.Fatalf("en: %v", en)
	}
	for i, n := range en {
		if n.Neuron != want[i] || (i > 0 && n.Score < en[i-1].Score) {
			t.Errorf("en[%d] = %v (%g), want %v", i, n.Neuron, n.Score, want[i])
		}
	}
	if en[5].Score != MaxScore {
		t.Errorf("the filtered neuron's score %g, want MaxScore", en[5].Score)
	}
	// Same membership as the selection, in every group.
	for g, name := range s.Groups {
		grp, _ := set.Group(name)
		in := map[hooks.Neuron]bool{}
		for _, n := range grp {
			in[n.Neuron] = true
		}
		if len(grp) != len(s.ByGroup[g]) || len(in) != len(grp) {
			t.Errorf("%s: %d entries, the selection has %d", name, len(grp), len(s.ByGroup[g]))
		}
		for _, n := range s.ByGroup[g] {
			if !in[hooks.NeuronAt(n.Layer, hooks.MLPPre, n.Index)] {
				t.Errorf("%s: L%d N%d missing", name, n.Layer, n.Index)
			}
		}
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	back, err := hooks.ParseNeuronSet(b, "set")
	if err != nil || back.Len() != set.Len() {
		t.Fatalf("round trip: %v", err)
	}
	st := set.Settings.(*SetSettings)
	if st.InfiniteScore != 2 || st.Probs != "probs.safetensors" || st.Settings.K != 7 || len(st.Groups) != 2 ||
		st.Groups[0].Count != 6 || !strings.Contains(st.Deactivation, "silu(gate)·up is 0") {
		t.Errorf("settings %+v", st)
	}
	if !strings.Contains(string(b), `"language_specific"`) || strings.Count(string(b), `"per_layer"`) != 2 {
		t.Errorf("the settings lack the report: %s", b)
	}

	// Taps that name no per-layer unit.
	for tap, want := range map[string]string{"": "no tap point", "hook_embed": "per-layer", "mlp.hook_foo": "mlp.hook_foo"} {
		s.Tap = tap
		if _, err := s.NeuronSet(NewReport(p, s, nil), ""); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("tap %q: %v, want an error containing %q", tap, err, want)
		}
	}
}
