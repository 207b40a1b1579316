// Package bricks partitions a layer's MLP neurons into functional groups ("bricks", after
// Configurable Foundation Models' emergent bricks; the co-activation view of MoEfication) from
// how they co-activate over a dataset, and characterises each brick by the labelled groups
// of tokens (languages, relations, ...) it serves, against random partitions of the same
// sizes.
//
// # Use
//
//	co := bricks.NewCoActivation(dMLP, bricks.CoActivationOptions{})   // Values pattern
//	gm := bricks.NewGroupMass(dMLP, nGroups, bricks.AbsMass)
//	// every batch: blocks.L.mlp.hook_post activations [batch, pos, d_mlp] →
//	co.AddMasked(act.Data, batch.Mask)
//	gm.Add(act.Data, tokenGroups)                                      // −1: no group / padding
//	corr, constant, err := co.Correlation()
//	part, err := bricks.Cluster(corr, constant, bricks.PartitionOptions{Bricks: 32, Seed: 1})
//	rep, err := bricks.Analyze(part, gm, bricks.AnalyzeOptions{Seed: 1, Groups: names})
//
// The partition and the group masses may come from different token sets (e.g. partition on
// a broad corpus, characterise on labelled evaluation sentences).
//
// # Partition: k-means on normalised activation patterns
//
// Neuron i's activation pattern over the N tokens of the dataset is the vector
// xᵢ ∈ R^N of its activations (Pattern Values) or of its firing indicators xᵢₜ > Threshold
// (Pattern Firing, MoEfication-style co-activation). Its normalised pattern is the centred
// unit vector uᵢ = (xᵢ − x̄ᵢ)/‖xᵢ − x̄ᵢ‖, so that uᵢ·uⱼ = R_ij, the Pearson correlation (for
// firing indicators, the phi coefficient). Cluster runs k-means (Lloyd, squared Euclidean
// distance) on the uᵢ — without ever storing them: every quantity k-means needs is a sum of
// correlations (kernel k-means with kernel R),
//
//	‖uᵢ − c_g‖² = R_ii − (2/|g|) Σ_{j∈g} R_ij + (1/|g|²) Σ_{j,l∈g} R_jl,
//
// so the result is exactly k-means on the N-dimensional patterns, for any N, from the D×D
// correlation matrix that CoActivation accumulates in one streaming pass (spectra.Covariance:
// float64, Chan's batched update, one SYRK per batch). TestKernelKMeansIsKMeans checks the
// inertia and the Lloyd fixed point against explicit patterns. Initialisation is greedy
// k-means++ (2 + ⌊ln k⌋ candidates per centre, as scikit-learn) with a PCG generator seeded
// by (Seed, restart); Restarts (default 10) initialisations run to convergence (no
// assignment changes, at most MaxIter = 300 iterations) and the lowest inertia wins (the
// first on ties). An emptied cluster takes the point farthest from its centroid. Bricks are
// numbered by their lowest neuron. The same inputs and Seed give the same partition.
// Neurons whose pattern is constant over the dataset (variance ≤ 1e-12 × the largest, e.g.
// dead neurons) have no correlation: they are left out (Assign −1, Partition.Constant).
//
// Spectral clustering of the co-activation graph was the alternative; k-means on the
// normalised patterns was chosen because it needs no eigenvectors (seconds instead of
// minutes at D = 3072 in pure Go), has an exact pattern-space meaning, and is deterministic
// under a seed. Cost: each Lloyd iteration is O(D²) (one pass over R); BenchmarkCluster
// partitions 3072 neurons with 32 planted factors into 32 bricks, 10 restarts, in about 2 s
// and recovers the factors exactly (adjusted Rand index 1).
//
// # Brick × group activation share
//
// GroupMass accumulates, for every neuron i and group g, the activation mass
// Σ_{t∈g} mass(x_{t,i}) and the token count n_g; mass is |x| (AbsMass, default: gated
// hook_post is signed) or max(x, 0) (PositiveMass). With aᵢ_g the mean mass per token of g
// (so group sizes do not weigh in) and M_bg = Σ_{i∈b} aᵢ_g:
//
//	Share[b][g]   = M_bg / Σ_g' M_bg'                  (rows sum to 1)
//	Specialisation_b = 1 − H(Share[b]) / ln G          (0: serves all groups alike; 1: one)
//	Use_g[b]      = (M_bg/|b|) / Σ_b' (M_b'g/|b'|)     (per-neuron mass, sums to 1 over bricks)
//	Sparsity_g    = 1 − H(Use_g) / ln B                (0: uses all bricks alike; 1: one brick)
//
// H is the Shannon entropy in nats (0 ln 0 = 0). The layer statistics are the mean
// specialisation over bricks and the mean sparsity over groups.
//
// # Control
//
// Analyze draws RandomPartitions (default 1000) random partitions of the same (non-constant)
// neurons into bricks of the same sizes (PCG seeded by Seed) and computes the same two
// statistics on each: Control reports the observed value, the random mean and sample
// standard deviation, and the empirical one-sided p-value (1 + #{random ≥ observed})/(1 + R).
//
// The ablation effect of each brick (accuracy/perplexity per group) is not here: it goes
// through the verify machinery.
//
// # Partition comparison
//
// AdjustedRandIndex compares two partitions (1 = identical up to relabelling, ≈0 = chance),
// e.g. across seeds, patterns or datasets.
package bricks
