package bricks

import (
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// planted is a layer of width neurons in nb blocks of equal size (neuron order shuffled) plus
// dead neurons (always 0): on every token each block has a latent z ~ N(0,1) and its neurons
// read z plus noise of sd 0.5. Tokens belong to nb groups; group g's tokens add 2 to block g's
// latent (so block g is most active on group g). It returns the activations [n, width], the
// planted block of each neuron (−1 dead) and each token's group.
func planted(seed uint64, n, nb, per, dead int) (x []float32, block, group []int) {
	rng := rand.New(rand.NewPCG(seed, 1))
	w := nb*per + dead
	block = make([]int, w)
	for i := range block {
		block[i] = -1
		if i < nb*per {
			block[i] = i / per
		}
	}
	rng.Shuffle(w, func(a, b int) { block[a], block[b] = block[b], block[a] })
	x = make([]float32, n*w)
	group = make([]int, n)
	z := make([]float64, nb)
	for t := range n {
		group[t] = t % nb
		for b := range z {
			z[b] = rng.NormFloat64()
			if b == group[t] {
				z[b] += 2
			}
		}
		for i, b := range block {
			if b >= 0 {
				x[t*w+i] = float32(z[b] + 0.5*rng.NormFloat64())
			}
		}
	}
	return x, block, group
}

// correlationOf accumulates x ([n, w]) in batches of the given size and returns the
// pattern correlation.
func correlationOf(t *testing.T, x []float32, n, w, batch int, opts CoActivationOptions) ([]float64, []bool) {
	t.Helper()
	co := NewCoActivation(w, opts)
	for t0 := 0; t0 < n; t0 += batch {
		t1 := min(t0+batch, n)
		if err := co.Add(x[t0*w:t1*w], t1-t0); err != nil {
			t.Fatal(err)
		}
	}
	corr, constant, err := co.Correlation()
	if err != nil {
		t.Fatal(err)
	}
	return corr, constant
}

// addNoise adds N(0, sd²) to every activation.
func addNoise(x []float32, seed uint64, sd float64) {
	rng := rand.New(rand.NewPCG(seed, seed))
	for i := range x {
		x[i] += float32(sd * rng.NormFloat64())
	}
}

func TestPlantedBlocksRecovered(t *testing.T) {
	const n, nb, per, dead = 2000, 4, 11, 3
	x, block, _ := planted(1, n, nb, per, dead)
	w := nb*per + dead
	for _, pat := range []Pattern{Values, Firing} {
		corr, constant := correlationOf(t, x, n, w, 300, CoActivationOptions{Pattern: pat, Threshold: 1})
		p, err := Cluster(corr, constant, PartitionOptions{Bricks: nb, Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		if ari := AdjustedRandIndex(p.Assign, block); ari != 1 {
			t.Errorf("%s: adjusted Rand index %v, want 1 (assign %v)", pat, ari, p.Assign)
		}
		for i, b := range block {
			if (b < 0) != (p.Assign[i] < 0) {
				t.Errorf("%s: neuron %d: planted %d, assigned %d", pat, i, b, p.Assign[i])
			}
		}
		if p.Constant != dead || !reflect.DeepEqual(p.Sizes, []int{per, per, per, per}) {
			t.Errorf("%s: constant %d sizes %v", pat, p.Constant, p.Sizes)
		}
	}
}

// TestKernelKMeansIsKMeans checks the partition against explicit k-means on the normalised
// activation patterns uᵢ = (xᵢ − x̄ᵢ)/‖xᵢ − x̄ᵢ‖: the reported inertia equals Σ‖uᵢ − c‖² with
// explicit centroids, and every neuron is nearest its own centroid (a Lloyd fixed point).
func TestKernelKMeansIsKMeans(t *testing.T) {
	const n, nb, per = 300, 3, 5
	x, _, _ := planted(2, n, nb, per, 0)
	w := nb * per
	addNoise(x, 9, 1.5) // so that the clusters are not trivially tight
	corr, constant := correlationOf(t, x, n, w, n, CoActivationOptions{})
	const k = 4
	p, err := Cluster(corr, constant, PartitionOptions{Bricks: k, Seed: 5, Restarts: 3})
	if err != nil {
		t.Fatal(err)
	}
	u := make([][]float64, w)
	for i := range w {
		var mean, ss float64
		for t := range n {
			mean += float64(x[t*w+i])
		}
		mean /= n
		u[i] = make([]float64, n)
		for t := range n {
			u[i][t] = float64(x[t*w+i]) - mean
			ss += u[i][t] * u[i][t]
		}
		for t := range n {
			u[i][t] /= math.Sqrt(ss)
		}
	}
	cent := make([][]float64, k)
	for b := range k {
		cent[b] = make([]float64, n)
		for _, i := range p.Members(b) {
			for t := range n {
				cent[b][t] += u[i][t] / float64(p.Sizes[b])
			}
		}
	}
	d2 := func(i, b int) float64 {
		var s float64
		for t := range n {
			s += (u[i][t] - cent[b][t]) * (u[i][t] - cent[b][t])
		}
		return s
	}
	var inertia float64
	for i := range w {
		own := d2(i, p.Assign[i])
		inertia += own
		for b := range k {
			if d2(i, b) < own-1e-12 {
				t.Errorf("neuron %d (brick %d) is nearer brick %d: %v < %v", i, p.Assign[i], b, d2(i, b), own)
			}
		}
	}
	if math.Abs(inertia-p.Inertia) > 1e-9 {
		t.Errorf("inertia %v, explicit k-means %v", p.Inertia, inertia)
	}
}

func TestDeterministicUnderSeed(t *testing.T) {
	const n, nb, per = 500, 3, 6
	x, _, group := planted(4, n, nb, per, 2)
	w := nb*per + 2
	addNoise(x, 4, 2) // so that restarts and seeds matter
	run := func(seed uint64) (*Partition, *Report) {
		corr, constant := correlationOf(t, x, n, w, 128, CoActivationOptions{})
		p, err := Cluster(corr, constant, PartitionOptions{Bricks: 5, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		gm := NewGroupMass(w, nb, AbsMass)
		if err := gm.Add(x, group); err != nil {
			t.Fatal(err)
		}
		r, err := Analyze(p, gm, AnalyzeOptions{RandomPartitions: 50, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		return p, r
	}
	p1, r1 := run(11)
	p2, r2 := run(11)
	if !reflect.DeepEqual(p1, p2) || !reflect.DeepEqual(r1, r2) {
		t.Error("two runs with seed 11 differ")
	}
	_, r3 := run(12)
	if reflect.DeepEqual(r1.Specialisation, r3.Specialisation) {
		t.Error("seeds 11 and 12 drew the same random control")
	}
}

// TestShareByHand: 3 neurons, bricks {0,1} and {2}, 2 groups.
func TestShareByHand(t *testing.T) {
	gm := NewGroupMass(3, 2, AbsMass)
	x := []float32{1, 2, 0, 3, 0, 0, 0, -1, 5, 9, 9, 9}
	if err := gm.Add(x, []int{0, 0, 1, -1}); err != nil {
		t.Fatal(err)
	}
	// Mean mass per token: group 0 = (4,2,0)/2 = (2,1,0); group 1 = (0,1,5).
	p := &Partition{Width: 3, Bricks: 2, Assign: []int{0, 0, 1}, Sizes: []int{2, 1}}
	r, err := Analyze(p, gm, AnalyzeOptions{RandomPartitions: 10, Groups: []string{"en", "de"}})
	if err != nil {
		t.Fatal(err)
	}
	near := func(what string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-12 {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	// Brick 0: group masses (3, 1) → share (.75, .25); brick 1: (0, 5) → (0, 1).
	near("share[0][0]", r.Share[0][0], 0.75)
	near("share[0][1]", r.Share[0][1], 0.25)
	near("share[1][1]", r.Share[1][1], 1)
	h := -(0.75*math.Log(0.75) + 0.25*math.Log(0.25))
	near("specialisation 0", r.Bricks[0].Specialisation, 1-h/math.Ln2)
	near("specialisation 1", r.Bricks[1].Specialisation, 1)
	near("mean specialisation", r.Specialisation.Observed, (2-h/math.Ln2)/2)
	// Group use per neuron: group 0 (3/2, 0/1) → (1, 0); group 1 (1/2, 5/1) → (1/11, 10/11).
	near("use[1][0]", r.Groups[1].Use[0], 1.0/11)
	near("sparsity 0", r.Groups[0].Sparsity, 1)
	h1 := -(1.0/11*math.Log(1.0/11) + 10.0/11*math.Log(10.0/11))
	near("sparsity 1", r.Groups[1].Sparsity, 1-h1/math.Ln2)
	if r.Groups[1].Name != "de" || r.Groups[0].Tokens != 2 || r.Bricks[1].Top != 1 || r.Bricks[0].TopShare != 0.75 {
		t.Errorf("report: %+v %+v", r.Groups, r.Bricks)
	}
	if r.Specialisation.R != 10 || r.Specialisation.P <= 0 || r.Specialisation.P > 1 {
		t.Errorf("control %+v", r.Specialisation)
	}
	// Positive mass ignores the −1.
	gp := NewGroupMass(3, 2, PositiveMass)
	if err := gp.Add(x, []int{0, 0, 1, -1}); err != nil {
		t.Fatal(err)
	}
	if a := gp.MeanMass(); a[3+1] != 0 || a[3+2] != 5 {
		t.Errorf("positive mass of group 1: %v", a[3:])
	}
}

// TestSpecialisedBricksBeatRandom: with planted blocks each driven by one group, bricks are
// far more specialised (and groups sparser) than random partitions of the same sizes.
func TestSpecialisedBricksBeatRandom(t *testing.T) {
	const n, nb, per = 1200, 4, 8
	x, block, group := planted(6, n, nb, per, 0)
	w := nb * per
	gm := NewGroupMass(w, nb, AbsMass)
	if err := gm.Add(x, group); err != nil {
		t.Fatal(err)
	}
	p := &Partition{Width: w, Bricks: nb, Assign: block, Sizes: []int{per, per, per, per}}
	r, err := Analyze(p, gm, AnalyzeOptions{RandomPartitions: 200, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []Control{r.Specialisation, r.Sparsity} {
		if c.P != 1.0/201 || c.Observed < c.Mean+5*c.SD {
			t.Errorf("control %+v: want p = 1/201 and observed far above random", c)
		}
	}
	for b, br := range r.Bricks {
		if g := block[br.Neurons[0]]; br.Top != g {
			t.Errorf("brick %d (planted block %d) tops group %d", b, g, br.Top)
		}
	}
}

func TestAdjustedRandIndex(t *testing.T) {
	// scikit-learn: adjusted_rand_score([0,0,0,1,1,1,2,2], [0,0,1,1,2,2,2,2]) = 0.18181818181818182.
	if v := AdjustedRandIndex([]int{0, 0, 0, 1, 1, 1, 2, 2}, []int{0, 0, 1, 1, 2, 2, 2, 2}); math.Abs(v-0.18181818181818182) > 1e-15 {
		t.Errorf("ARI = %v", v)
	}
	if v := AdjustedRandIndex([]int{2, 2, 0, 0, -1}, []int{5, 5, 1, 1, 3}); v != 1 {
		t.Errorf("relabelled ARI = %v", v)
	}
}

func TestErrors(t *testing.T) {
	gm := NewGroupMass(2, 2, AbsMass)
	if err := gm.Add([]float32{1, 2}, []int{2}); err == nil || !strings.Contains(err.Error(), "group 2") {
		t.Errorf("label out of range: %v", err)
	}
	if err := gm.Add([]float32{1, float32(math.Inf(1))}, []int{0}); err == nil {
		t.Error("Inf accepted")
	}
	if err := gm.Add([]float32{1}, []int{0}); err == nil {
		t.Error("short row accepted")
	}
	if gm.Tokens()[0] != 0 {
		t.Error("a rejected batch was counted")
	}
	if err := gm.Merge(NewGroupMass(2, 3, AbsMass)); err == nil {
		t.Error("merging 3 groups into 2 accepted")
	}
	p := &Partition{Width: 2, Bricks: 1, Assign: []int{0, 0}, Sizes: []int{2}}
	if _, err := Analyze(p, gm, AnalyzeOptions{}); err == nil || !strings.Contains(err.Error(), "no tokens") {
		t.Errorf("empty group: %v", err)
	}
	co := NewCoActivation(3, CoActivationOptions{Pattern: Firing})
	if err := co.Add([]float32{1, 2, float32(math.NaN())}, 1); err == nil {
		t.Error("NaN accepted by the firing pattern")
	}
	if _, _, err := co.Correlation(); err == nil {
		t.Error("correlation of no tokens")
	}
	if err := co.Merge(NewCoActivation(3, CoActivationOptions{})); err == nil {
		t.Error("merging values into firing accepted")
	}
	corr := []float64{1, 0, 0, 1}
	if _, err := Cluster(corr, []bool{false, false}, PartitionOptions{Bricks: 3}); err == nil {
		t.Error("3 bricks of 2 neurons accepted")
	}
	if _, err := Cluster(corr[:3], []bool{false, false}, PartitionOptions{Bricks: 1}); err == nil {
		t.Error("short correlation accepted")
	}
}
