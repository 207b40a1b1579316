package decompose

import (
	"context"
	"fmt"
	"math"
	"strings"
)

// Init names how SNMF chooses its initial G (F0 never matters: the first step overwrites F).
type Init int

const (
	// InitRandom is the published default: G0 = U[0,1) clamped at ≥ 1e-6, the draws being
	// those of torch.rand(n, rank) on the CPU after torch.manual_seed(Seed).
	InitRandom Init = iota
	// InitSVD is Ding et al.'s SVD start (the published init_svd): with A ≈ U Σ Vᵀ truncated to
	// rank k, G0 = V √Σ clamped at ≥ 1e-6.
	InitSVD
	// InitKMeans is the published k-means start ("knn"): 15 Lloyd iterations on A's columns
	// from rank distinct random columns, G0 = the one-hot assignment clamped at ≥ 1e-6.
	InitKMeans
)

// String is the init's name: "random", "svd" or "kmeans".
func (i Init) String() string {
	switch i {
	case InitRandom:
		return "random"
	case InitSVD:
		return "svd"
	case InitKMeans:
		return "kmeans"
	}
	return fmt.Sprintf("Init(%d)", int(i))
}

// ParseInit reads "random", "svd" or "kmeans" (also "knn", the published code's name).
func ParseInit(s string) (Init, error) {
	switch strings.ToLower(s) {
	case "random":
		return InitRandom, nil
	case "svd":
		return InitSVD, nil
	case "kmeans", "knn", "k-means":
		return InitKMeans, nil
	}
	return 0, fmt.Errorf("unknown init %q (random, svd or kmeans)", s)
}

// Options are SNMF's settings. Start from DefaultOptions: the zero value is not valid.
type Options struct {
	// Rank is k, the number of features (columns of F and G). 1 ≤ Rank ≤ min(d_mlp, n).
	Rank int
	// Sparsity is the fraction of neurons each feature keeps: after every F step, each column
	// of F keeps the entries with |F_ij| ≥ its k-th largest |value|, k = max(1,
	// ceil(Sparsity·d_mlp)) (ties keep more). In (0, 1].
	Sparsity float64
	// MaxIter bounds the iterations (≥ 1).
	MaxIter int
	// Patience stops the fit after this many consecutive iterations without improving the
	// best loss by more than Tol (≥ 1).
	Patience int
	// Tol is the absolute improvement a loss must make over the best so far to count (≥ 0).
	Tol float64
	// Reg is the ridge added to GᵀG in the F step (≥ 0).
	Reg float64
	// Init chooses G0 (ignored when G0 is set).
	Init Init
	// Seed seeds the random and k-means inits (torch.manual_seed semantics: truncated to 32
	// bits).
	Seed uint64
	// KMeansIters is the number of Lloyd iterations of InitKMeans.
	KMeansIters int
	// G0, if set, is the initial G [n, rank] (non-negative), used instead of Init: for
	// continuing a fit or starting from another implementation's G0.
	G0 []float64
	// Progress, if set, is called after every iteration.
	Progress func(Progress)

	// afterRescale, if set (tests only), sees F and G right after the Hoyer rescaling of each
	// iteration, before the G update.
	afterRescale func(iter int, f, g any)
	// rng, if set, is a continuing random stream the random init draws from (hierarchy
	// levels), followed by the draws of the published fit's unused F0 = torch.randn(d, k).
	rng *mt19937
}

// Progress reports one finished iteration.
type Progress struct {
	Iter, MaxIter int     // Iter counts from 1
	Loss          float64 // ‖A − F Gᵀ‖² after this iteration
	Best          float64 // best loss so far
	BestIter      int     // iteration (from 1) of Best
	SinceBest     int     // iterations since Best (the patience counter)
}

// Published defaults (Shafran, Geiger & Geva 2025, ordavid-s/snmf-mlp-decomposition).
const (
	DefaultRank        = 50   // the run scripts (train.py's own default is 100)
	DefaultSparsity    = 0.01 // kept fraction of neurons per feature
	DefaultMaxIter     = 2000 // the run scripts (train.py's own default is 200000)
	DefaultPatience    = 1500
	DefaultTol         = 1e-4 // absolute, on ‖A − F Gᵀ‖²
	DefaultReg         = 1e-6
	DefaultSeed        = 42
	DefaultKMeansIters = 15
)

// DefaultOptions returns the published settings: rank 50, sparsity 0.01, at most 2000
// iterations, patience 1500, tolerance 1e-4, ridge 1e-6, random init, seed 42.
func DefaultOptions() Options {
	return Options{Rank: DefaultRank, Sparsity: DefaultSparsity, MaxIter: DefaultMaxIter,
		Patience: DefaultPatience, Tol: DefaultTol, Reg: DefaultReg, Init: InitRandom,
		Seed: DefaultSeed, KMeansIters: DefaultKMeansIters}
}

// KeptPerFeature is the number of neurons the winner-take-all step keeps in each column of F
// (before ties): max(1, ceil(sparsity·d_mlp)).
func KeptPerFeature(sparsity float64, dMLP int) int {
	return max(1, int(math.Ceil(sparsity*float64(dMLP))))
}

// OptionError is a bad setting or input; Option names it the way the CLI's flags do ("rank",
// "sparsity", "iters", "patience", "tol", "reg", "init", "g0", "acts").
type OptionError struct {
	Option string
	Reason string
}

// Error is "decompose: <option>: <reason>".
func (e *OptionError) Error() string { return "decompose: " + e.Option + ": " + e.Reason }

func optErr(option, format string, a ...any) error {
	return &OptionError{Option: option, Reason: fmt.Sprintf(format, a...)}
}

// StopReason says why a fit ended.
type StopReason string

const (
	StopPatience  StopReason = "patience"   // Patience iterations without improvement
	StopMaxIter   StopReason = "max_iter"   // MaxIter reached
	StopNonFinite StopReason = "non_finite" // the loss became NaN or ±Inf (see doc.go)
)

// Factors is the result of SNMF: A ≈ F Gᵀ with A = xᵀ the [d_mlp, n] activation matrix.
type Factors[T Float] struct {
	N, DMLP, Rank int
	// F is [d_mlp, rank] row-major: column j is feature j, a sparse mixed-sign neuron group.
	F []T
	// G is [n, rank] row-major, ≥ 0: G[t, j] is how much token t uses feature j.
	G []T
	// Loss is ‖A − F Gᵀ‖²_F after each iteration's G update (the loss curve).
	Loss []float64
	// BestLoss is Loss[BestIter], the loss of the returned F and G (the best iterate).
	BestLoss float64
	// BestIter is the 0-based iteration whose F and G are returned.
	BestIter int
	// Iters is the number of iterations run.
	Iters int
	// Stop says why the fit ended.
	Stop StopReason
	// SumSquares is ‖A‖²_F, for relative losses (BestLoss / SumSquares).
	SumSquares float64
	// Kept is KeptPerFeature(Sparsity, DMLP).
	Kept int
}

// Column copies feature j (column j of F, d_mlp values) into dst, which it returns (allocated
// when nil).
func (f *Factors[T]) Column(dst []T, j int) []T {
	if dst == nil {
		dst = make([]T, f.DMLP)
	}
	for i := range f.DMLP {
		dst[i] = f.F[i*f.Rank+j]
	}
	return dst
}

// SNMF factorises collected activations (float32) with the published semi-NMF; see Fit.
func SNMF(ctx context.Context, a *Activations, opt Options) (*Factors[float32], error) {
	if a == nil || a.N() == 0 {
		return nil, optErr("acts", "no activation rows (no tokens left after dropping pads and BOS?)")
	}
	return Fit(ctx, a.Rows, a.N(), a.DMLP, opt)
}

// Fit factorises the activation rows x [n, d_mlp] (row t is token t, i.e. column t of
// A = xᵀ [d_mlp, n]) as A ≈ F Gᵀ with the published semi-NMF (see the package doc for every
// step). T = float32 is the fast path; T = float64 exists for checking against float64
// references. Bad options or non-finite input return an *OptionError; a cancelled ctx returns
// ctx.Err(). len(x) must be n·d (a programmer error otherwise: Fit panics).
func Fit[T Float](ctx context.Context, x []T, n, d int, opt Options) (*Factors[T], error) {
	if n < 0 || d < 0 || len(x) != n*d {
		panic(fmt.Sprintf("decompose: Fit given %d values for [%d, %d] rows", len(x), n, d))
	}
	if err := validate(opt, n, d); err != nil {
		return nil, err
	}
	if r, c, ok := firstNonFinite(x, d); !ok {
		return nil, optErr("acts", "activation row %d, neuron %d is %v", r, c, x[r*d+c])
	}
	s := newFitter(x, n, d, opt)
	if err := s.init(ctx); err != nil {
		return nil, err
	}
	return s.run(ctx)
}

func validate(opt Options, n, d int) error {
	switch {
	case n == 0:
		return optErr("acts", "no activation rows (no tokens left after dropping pads and BOS?)")
	case d == 0:
		return optErr("acts", "activation rows have width 0")
	case opt.Rank < 1:
		return optErr("rank", "%d is not ≥ 1 (start from DefaultOptions)", opt.Rank)
	case opt.Rank > min(n, d):
		return optErr("rank", "%d exceeds min(d_mlp, n) = min(%d, %d)", opt.Rank, d, n)
	case !(opt.Sparsity > 0 && opt.Sparsity <= 1):
		return optErr("sparsity", "%v is outside (0, 1]", opt.Sparsity)
	case opt.MaxIter < 1:
		return optErr("iters", "%d is not ≥ 1", opt.MaxIter)
	case opt.Patience < 1:
		return optErr("patience", "%d is not ≥ 1", opt.Patience)
	case !(opt.Tol >= 0) || math.IsInf(opt.Tol, 0):
		return optErr("tol", "%v is not a finite number ≥ 0", opt.Tol)
	case !(opt.Reg >= 0) || math.IsInf(opt.Reg, 0):
		return optErr("reg", "%v is not a finite number ≥ 0", opt.Reg)
	}
	if opt.G0 != nil {
		if len(opt.G0) != n*opt.Rank {
			return optErr("g0", "has %d values, want n·rank = %d·%d", len(opt.G0), n, opt.Rank)
		}
		for i, v := range opt.G0 {
			if !(v >= 0) || math.IsInf(v, 0) {
				return optErr("g0", "entry [%d, %d] = %v is not finite and ≥ 0", i/opt.Rank, i%opt.Rank, v)
			}
		}
		return nil
	}
	switch opt.Init {
	case InitRandom, InitSVD:
	case InitKMeans:
		if opt.KMeansIters < 1 {
			return optErr("init", "k-means needs KMeansIters ≥ 1, got %d", opt.KMeansIters)
		}
	default:
		return optErr("init", "unknown init %d", int(opt.Init))
	}
	return nil
}

// firstNonFinite finds the first NaN or ±Inf of rows of width d.
func firstNonFinite[T Float](x []T, d int) (row, col int, ok bool) {
	for i, v := range x {
		if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
			return i / d, i % d, false
		}
	}
	return 0, 0, true
}
