package ablate

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/neuronscope/neuronscope/hooks"
)

// RandomSetFor is RandomSet for one of many claimed lists drawn with the same seed (each
// prompt's path, each fact's knowledge neurons): list number stream draws from its own PCG
// stream, so different lists get independent draws, with the same per-point counts as their
// own list. No stream is RandomSet's.
func RandomSetFor(cat hooks.Catalog, claimed []hooks.Neuron, seed, stream uint64) []hooks.Neuron {
	return randomSet(cat, claimed, rand.New(rand.NewPCG(seed, randomStream^((stream+1)*0x9e3779b97f4a7c15))))
}

// RandomLists draws random list k of an item experiment: list j is RandomSetFor(cat,
// lists[j], seed, j).
func RandomLists(cat hooks.Catalog, lists [][]hooks.Neuron, seed uint64) [][]hooks.Neuron {
	out := make([][]hooks.Neuron, len(lists))
	for j, l := range lists {
		if len(l) > 0 {
			out[j] = RandomSetFor(cat, l, seed, uint64(j))
		}
	}
	return out
}

// RandomPooledRule says how RandomPooled draws control sets.
const RandomPooledRule = "same total size as the claimed set, uniform without replacement over every unit of the pool's taps at every layer, " +
	"claimed units included (CULNIG's decide_random_neuron.py); random set k drawn with seed seed+k"

// RandomPooled draws a control set the way CULNIG's published code does
// (decide_random_neuron.py): as many units as claimed has, uniformly without replacement from
// the pool of every unit of the sites at every layer (CULNIG pools gate_proj and q/k/v), the
// claimed units included, with no regard to claimed's per-layer or per-tap counts. The result
// is sorted by point then index. RandomSet, which keeps the counts of every point, is the
// stricter control and neuronscope's default.
func RandomPooled(cat hooks.Catalog, claimed []hooks.Neuron, sites []hooks.Site, seed uint64) ([]hooks.Neuron, error) {
	var pool []hooks.Neuron
	for l := 0; ; l++ {
		any := false
		for _, s := range sites {
			p := hooks.At(l, s)
			if !cat.Has(p) {
				continue
			}
			any = true
			for i := 0; i < cat.Width(p); i++ {
				pool = append(pool, hooks.Neuron{Point: p, Index: i})
			}
		}
		if !any {
			break
		}
	}
	if len(pool) < len(claimed) {
		return nil, fmt.Errorf("random pool of %d units (%v) is smaller than the claimed set's %d", len(pool), sites, len(claimed))
	}
	rng := rand.New(rand.NewPCG(seed, randomStream+1))
	for j := range claimed { // partial Fisher–Yates
		x := j + rng.IntN(len(pool)-j)
		pool[j], pool[x] = pool[x], pool[j]
	}
	out := append([]hooks.Neuron(nil), pool[:len(claimed)]...)
	hooks.SortNeurons(out)
	return out, nil
}

// siteList names sites, comma-separated.
func siteList(ss []hooks.Site) string {
	names := make([]string, len(ss))
	for i, s := range ss {
		names[i] = s.String()
	}
	return strings.Join(names, ", ")
}
