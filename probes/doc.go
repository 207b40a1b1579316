// Package probes will hold neuron finders and selectivity scores (relation, language and
// culture neurons; LAPE entropy; influential paths), each naming the tap point it uses.
//
// Status: the finders are not implemented yet. The subpackages are:
//
//   - probes/profile: dataset profiling of every neuron (statistics, top-k and quantile
//     examples, NeuronRecord and Neuronpedia exports, HTML dashboard);
//   - probes/spectra: NerVE eigenspectrum measures of the FFN pre- and post-activations from
//     streamed float64 covariances, per layer, with a plot;
//   - probes/linear: logistic-regression and difference-in-means probes with seeded
//     stratified cross-validation and raw-space steering directions;
//   - probes/bricks: neuron partitions ("bricks") from co-activation, their brick × group
//     activation share, and specialisation/sparsity against random partitions.
package probes
