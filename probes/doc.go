// Package probes holds neuron finders from activation statistics, probes and dataset-level
// analyses, each naming the tap point it uses; everything is in its subpackages.
//
// The subpackages are:
//
//   - probes/profile: dataset profiling of every neuron (statistics, top-k and quantile
//     examples, NeuronRecord and Neuronpedia exports, HTML dashboard, mergeable shard states);
//   - probes/distributed: profiling and activation counting as Apache Beam pipelines;
//   - probes/labels: the neuronscope.labels/v1 label records (claim, evidence, verification)
//     that package ablate's verification writes and the dashboard shows;
//   - probes/language: activation probabilities counted in one streaming pass, the
//     probability file, and language neurons from them (LAPE, the alignment score with its
//     λ sweep);
//   - probes/expertise, probes/relation: average precision exactly as sklearn, and
//     relation-specific neurons from mean-pooled responses;
//   - probes/spectra: NerVE eigenspectrum measures of the FFN pre- and post-activations from
//     streamed float64 covariances, per layer, with a plot;
//   - probes/linear: logistic-regression and difference-in-means probes with seeded
//     stratified cross-validation and raw-space steering directions;
//   - probes/bricks: neuron partitions ("bricks") from co-activation, their brick × group
//     activation share, and specialisation/sparsity against random partitions.
package probes
