package hooks

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/internal/fixtures"
)

func TestTLNamesRoundTrip(t *testing.T) {
	f, err := os.Open("testdata/tl_names.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	seen := map[Site]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name := strings.TrimSpace(sc.Text())
		if name == "" || strings.HasPrefix(name, "#") {
			continue
		}
		p, err := Parse(name)
		if err != nil {
			t.Errorf("Parse(%q): %v", name, err)
			continue
		}
		if p.String() != name {
			t.Errorf("Parse(%q).String() = %q", name, p.String())
		}
		seen[p.Site] = true
		n++
	}
	if n < 20 {
		t.Fatalf("only %d names read", n)
	}
	for s := Site(0); s < numSites; s++ {
		if !seen[s] && s != FinalOutput && !s.IsUnits() {
			t.Errorf("testdata/tl_names.txt has no %s point", s)
		}
	}
}

// TestUnitSites: decomposition units are named like per-layer hook points, round-trip through
// Parse and ParseSite, and name mlp.hook_post as their base.
func TestUnitSites(t *testing.T) {
	for _, c := range []struct {
		name string
		site Site
	}{{"blocks.3.mlp.hook_post.snmf", MLPPostSNMF}, {"blocks.0.mlp.hook_post.sae.hook_sae_acts_post", MLPPostSAE}} {
		p, err := Parse(c.name)
		if err != nil || p.Site != c.site || p.String() != c.name || !p.Site.PerLayer() || !p.Site.IsUnits() || p.Site.Base() != MLPPost {
			t.Errorf("%s: %+v %v", c.name, p, err)
		}
		if s, err := ParseSite(c.site.String()); err != nil || s != c.site {
			t.Errorf("ParseSite(%s): %v %v", c.site, s, err)
		}
	}
	if MLPPost.IsUnits() || MLPPost.Base() != MLPPost {
		t.Error("mlp.hook_post is not a units site")
	}
	// A neuron set at a units tap reads back with its site.
	set := &NeuronSet{Method: "snmf", Tap: MLPPostSNMF, Groups: []NeuronGroup{{Name: "f", Neurons: []ScoredNeuron{{Neuron: NeuronAt(1, MLPPostSNMF, 4), Score: 1}}}}}
	js, _ := json.Marshal(set)
	back, err := ParseNeuronSet(js, "set")
	if err != nil || back.Tap != MLPPostSNMF || back.Groups[0].Neurons[0].Neuron != NeuronAt(1, MLPPostSNMF, 4) {
		t.Errorf("round trip %s: %+v %v", js, back, err)
	}
	// No model catalog holds them: checking names the point.
	if err := (Catalog{Points: []Point{At(1, MLPPost)}, Shapes: map[Point][]int{At(1, MLPPost): {8}}}).CheckNeurons([]Neuron{NeuronAt(1, MLPPostSNMF, 0)}); err == nil ||
		!strings.Contains(err.Error(), "blocks.1.mlp.hook_post.snmf") {
		t.Errorf("CheckNeurons: %v", err)
	}
}

// TestSiteLayout: only the attention scores and pattern are not [batch, pos, ...]; the catalog
// gives them no per-position width.
func TestSiteLayout(t *testing.T) {
	for s := Site(0); s < numSites; s++ {
		want := s != AttnScores && s != AttnPattern
		if s.PerPosition() != want {
			t.Errorf("%s: PerPosition %v", s, s.PerPosition())
		}
	}
	c := Catalog{Shapes: map[Point][]int{At(0, AttnPattern): {4, KeyPos}, At(0, AttnQ): {4, 8}}}
	if w := c.Width(At(0, AttnPattern)); w != 0 {
		t.Errorf("pattern width %d, want 0", w)
	}
	if w := c.Width(At(0, AttnQ)); w != 32 {
		t.Errorf("hook_q width %d, want 32", w)
	}
}

// TestGoldenHookNames round-trips every hook name the reference fixtures use.
func TestGoldenHookNames(t *testing.T) {
	for _, dir := range fixtures.Checkpoints(t) {
		data, err := os.ReadFile(filepath.Join(dir, "golden.json"))
		if err != nil {
			t.Fatal(err)
		}
		var g struct {
			HookNames []string `json:"hook_names"`
		}
		if err := json.Unmarshal(data, &g); err != nil {
			t.Fatal(err)
		}
		for _, name := range g.HookNames {
			p, err := Parse(name)
			if err != nil || p.String() != name {
				t.Errorf("%s: %q -> %v, %v", filepath.Base(dir), name, p, err)
			}
		}
	}
}

func TestParseRejects(t *testing.T) {
	for _, bad := range []string{"", "blocks", "blocks.x.mlp.hook_post", "blocks.-1.mlp.hook_post", "blocks.01.mlp.hook_post",
		"blocks.0.mlp.hook_postt", "hook_embedding", "blocks.0.ln3.hook_scale", "ln1.hook_scale", "blocks.0.attn.hook_pattern.x"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) succeeded", bad)
		}
	}
	if p, err := Parse("blocks.2.mlp.hook_out"); err != nil || p != At(2, MLPPost) {
		t.Errorf("TL v3 alias hook_out: %v %v", p, err)
	}
}

func TestGlob(t *testing.T) {
	cases := []struct {
		pat, s string
		want   bool
	}{
		{"blocks.*.mlp.hook_post", "blocks.3.mlp.hook_post", true},
		{"blocks.*.mlp.hook_post", "blocks.3.mlp.hook_pre", false},
		{"*hook_post", "blocks.10.mlp.hook_post", true},
		{"blocks.1?.*", "blocks.12.hook_resid_pre", true},
		{"blocks.1?.*", "blocks.1.hook_resid_pre", false},
		{"*", "hook_embed", true},
	}
	for _, c := range cases {
		if got := glob(c.pat, c.s); got != c.want {
			t.Errorf("glob(%q, %q) = %v", c.pat, c.s, got)
		}
	}
}

func testCatalog() Catalog {
	c := Catalog{Aliases: map[string]Point{"model.layers.0.mlp.down_proj:input": At(0, MLPPost)}}
	c.Points = []Point{Global(Embed)}
	for l := 0; l < 2; l++ {
		c.Points = append(c.Points, At(l, ResidPre), At(l, MLPPost), At(l, ResidPost))
	}
	return c
}

func TestCatalogMatch(t *testing.T) {
	c := testCatalog()
	ps, err := c.Match("blocks.*.mlp.hook_post")
	if err != nil || len(ps) != 2 || ps[0] != At(0, MLPPost) || ps[1] != At(1, MLPPost) {
		t.Fatalf("glob: %v %v", ps, err)
	}
	ps, err = c.Match("model.layers.0.mlp.down_proj:input")
	if err != nil || len(ps) != 1 || ps[0] != At(0, MLPPost) {
		t.Fatalf("alias: %v %v", ps, err)
	}
	for _, bad := range []string{"blocks.5.mlp.hook_post", "blocks.*.hook_resid_mid", "nonsense", ""} {
		if _, err := c.Match(bad); err == nil {
			t.Errorf("Match(%q) succeeded", bad)
		}
	}
}
