// Package linear trains linear probes on activations: L2-regularised logistic regression
// (binary, multinomial or one-vs-rest) on standardised inputs, and the difference-in-means
// probe, each with seeded stratified k-fold cross-validation, and maps the probe back to raw
// activation space so that its direction can steer.
//
// The name says what both probes are: a linear read-out (a direction and a bias) of a
// representation. Inputs are any [N, P] features: neurons of a tap (hook_post, hook_pre,
// the residual stream), SAE latents or SNMF coefficients.
//
// # Use
//
//	d := linear.Data{X: acts, N: n, P: p, Labels: labels, Classes: k}  // X is [N, P] row-major
//	res, err := linear.Logistic(d, linear.LogisticOptions{Seed: 1})   // C=1, 5 folds, multinomial
//	res.Folds[i].Accuracy, res.MeanAccuracy                            // held-out
//	res.Probe.Directions[c]                                            // unit steering direction
//	res2, err := linear.DiffMeans(d, linear.DiffMeansOptions{Seed: 1})
//
// # Cross-validation
//
// StratifiedFolds shuffles each class's examples with a PCG generator seeded by Seed and
// deals them round-robin into Folds folds (default 5), continuing across classes, so every
// fold holds ⌊n_c/k⌋ or ⌈n_c/k⌉ examples of each class c. Each fold trains on the other folds
// (standardisation included: no statistics of held-out examples leak into training) and
// reports its held-out accuracy, the majority-class baseline (the training set's most
// frequent class), and for logistic regression the L-BFGS iterations and convergence. Result
// has the mean and sample standard deviation over folds, and the Probe refitted on all
// examples. The same Data, options and Seed give bitwise-identical results.
//
// # Logistic regression
//
// Features are standardised with the training rows' mean μ and population standard
// deviation σ (σ = 1 for a constant feature, as scikit-learn's StandardScaler). With
// standardised z, the fit minimises scikit-learn's objective
//
//	½‖W‖²_F + C · Σᵢ ℓᵢ,   C = 1 by default, intercepts unpenalised,
//
// with ℓᵢ = log(1 + e^{sᵢ}) − yᵢsᵢ, sᵢ = w·zᵢ + b for two classes (one score row), and
// ℓᵢ = logsumexp(sᵢ) − s_{i,yᵢ}, sᵢ = W zᵢ + b for the multinomial model (one row per class;
// the optimum has Σ_c W_c = 0, and the intercepts are reported with Σ_c b_c = 0). OneVsRest
// fits one binary model per class and predicts the largest score. The solver is gonum's
// L-BFGS on the equivalent mean objective (Σℓᵢ/n + ‖W‖²/(2Cn)), from zero, until its largest
// gradient entry is below GradTol = 1e-8 (at most MaxIter = 5000 iterations); the objective
// is strictly convex, so the optimum is unique and independent of the solver. L-BFGS was
// chosen over Newton/IRLS because one iteration costs two [n, p]×[p, rows] products instead
// of an n·p²·rows Hessian, and it covers the multinomial model without a (p·rows)² Hessian.
// Tests match scipy's L-BFGS-B minimum of the same objective to 1e-6 (scikit-learn's own fit
// stops earlier, at a gradient of 6e-5 with its default ftol). Cost (BenchmarkLogistic, 5000 ×
// 512, 5 folds + final fit): about 1 s for two classes (0.7 s with OpenBLAS) and 4 s (OpenBLAS)
// to 15–20 s (pure Go, shared machine) for ten.
//
// The probe is mapped back to raw activations x: W_raw[c,j] = W[c,j]/σ_j and
// B_raw[c] = b[c] − Σ_j W[c,j]μ_j/σ_j, so Scores(x) = W_raw·x + B_raw equals the standardised
// model's scores. Directions[c] = W_raw[c]/‖W_raw[c]‖ (one direction for two classes,
// toward class 1); Norms[c] = ‖W_raw[c]‖ is the change of the class-c logit per unit of
// activation moved along it.
//
// # Difference in means
//
// No standardisation: the class means μ_c are taken in raw activation space. The classifier
// is the nearest class mean (scores μ_c·x − ‖μ_c‖²/2; for two classes, the threshold at the
// midpoint of the means along μ₁ − μ₀). Directions: μ₁ − μ₀ for two classes (toward class 1);
// μ_c − μ_{¬c} for each class otherwise (μ_{¬c} the mean of every example not in c), with
// Norms the length of that difference in activation units.
//
// # JSON
//
// Result marshals as {"method", "classes", "seed", "folds": [{"train", "test", "accuracy",
// "majority_baseline", "iterations", "converged"}], "mean_accuracy", "std_accuracy",
// "probe": {"weights", "bias", "directions", "norms", "mean", "scale", ...}}.
package linear
