package profile

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/neuronscope/neuronscope/internal/atomicfile"
	"github.com/neuronscope/neuronscope/model/report"
)

// NeuronRecord is OpenAI's neuron-explainer NeuronRecord (neuron_explainer/activations/
// activations.py), as serialised by its dataclass JSON encoder (with dataclass_name tags).
type NeuronRecord struct {
	DataclassName                 string               `json:"dataclass_name"`
	NeuronID                      NeuronID             `json:"neuron_id"`
	RandomSample                  []ActivationRecord   `json:"random_sample"`
	RandomSampleByQuantile        [][]ActivationRecord `json:"random_sample_by_quantile"`
	QuantileBoundaries            []float32            `json:"quantile_boundaries"`
	Mean                          float64              `json:"mean"`
	Variance                      float64              `json:"variance"`
	Skewness                      float64              `json:"skewness"`
	Kurtosis                      float64              `json:"kurtosis"`
	MostPositiveActivationRecords []ActivationRecord   `json:"most_positive_activation_records"`
}

// NeuronID is OpenAI's NeuronId.
type NeuronID struct {
	DataclassName string `json:"dataclass_name"`
	LayerIndex    int    `json:"layer_index"`
	NeuronIndex   int    `json:"neuron_index"`
}

// ActivationRecord is OpenAI's ActivationRecord: tokens and the activation on each.
type ActivationRecord struct {
	DataclassName string    `json:"dataclass_name"`
	Tokens        []string  `json:"tokens"`
	Activations   []float32 `json:"activations"`
}

func activationRecords(ex []Example) []ActivationRecord {
	out := make([]ActivationRecord, len(ex))
	for i, e := range ex {
		out[i] = ActivationRecord{DataclassName: "ActivationRecord", Tokens: e.Tokens, Activations: e.Acts}
	}
	return out
}

// ToNeuronRecord converts one neuron's profile to a NeuronRecord.
func ToNeuronRecord(nr NeuronReport) NeuronRecord {
	rec := NeuronRecord{DataclassName: "NeuronRecord",
		NeuronID:           NeuronID{DataclassName: "NeuronId", LayerIndex: nr.Layer, NeuronIndex: nr.Index},
		RandomSample:       activationRecords(nr.RandomSample),
		QuantileBoundaries: nr.QuantileBoundaries,
		Mean:               nr.Mean, Variance: nr.Variance, Skewness: nr.Skewness, Kurtosis: nr.Kurtosis,
		MostPositiveActivationRecords: activationRecords(nr.TopMax),
		RandomSampleByQuantile:        [][]ActivationRecord{}}
	for _, b := range nr.QuantileSamples {
		rec.RandomSampleByQuantile = append(rec.RandomSampleByQuantile, activationRecords(b.Examples))
	}
	return rec
}

// NPFeature is one feature of a Neuronpedia batch export (the layout of Neuronpedia's
// feature upload / SAEDashboard's neuronpedia_runner): a neuron is a feature whose layer is
// the bare layer number and whose index is the neuron index.
type NPFeature struct {
	ModelID                string         `json:"modelId"`
	Layer                  int            `json:"layer"`
	Index                  int            `json:"index"`
	Source                 string         `json:"source"`
	MaxActApprox           float32        `json:"maxActApprox"`
	FracNonzero            float64        `json:"frac_nonzero"`
	PosStr                 []string       `json:"pos_str"`
	PosValues              []float32      `json:"pos_values"`
	NegStr                 []string       `json:"neg_str"`
	NegValues              []float32      `json:"neg_values"`
	FreqHistDataBarHeights []int64        `json:"freq_hist_data_bar_heights"`
	FreqHistDataBarValues  []float64      `json:"freq_hist_data_bar_values"`
	Activations            []NPActivation `json:"activations"`
}

// NPActivation is one Neuronpedia activation record.
type NPActivation struct {
	Tokens             []string  `json:"tokens"`
	Values             []float32 `json:"values"`
	MaxValue           float32   `json:"maxValue"`
	MaxValueTokenIndex int       `json:"maxValueTokenIndex"`
	BinMin             float32   `json:"binMin"`
	BinMax             float32   `json:"binMax"`
	BinContains        int64     `json:"binContains"`
}

func npActivations(ex []Example, lo, hi float32, contains int64) []NPActivation {
	out := make([]NPActivation, len(ex))
	for i, e := range ex {
		out[i] = NPActivation{Tokens: e.Tokens, Values: e.Acts, MaxValue: e.Value, MaxValueTokenIndex: e.MaxIndex,
			BinMin: lo, BinMax: hi, BinContains: contains}
	}
	return out
}

// ToNeuronpedia converts one neuron's profile to a Neuronpedia feature. The top-k examples
// come first with binMin = the smallest top-k maximum, binMax = the neuron's maximum and
// binContains = the number of top examples (SAEDashboard's "top activations" bin); then each
// quantile bin's samples with its bounds and count. pos_/neg_ are the DLA top/bottom tokens
// when the report has them (the write direction through the final norm weight and W_U, as
// SAEDashboard computes them on a TransformerLens model with the norm folded into W_U), else
// the LM-head ones.
func ToNeuronpedia(nr NeuronReport, modelID string) NPFeature {
	f := NPFeature{ModelID: modelID, Layer: nr.Layer, Index: nr.Index, Source: fmt.Sprintf("%d-%s", nr.Layer, siteOf(nr.Hook)),
		MaxActApprox: nr.Max, FracNonzero: nr.FracNonzero,
		PosStr: []string{}, PosValues: []float32{}, NegStr: []string{}, NegValues: []float32{},
		FreqHistDataBarHeights: nr.Histogram.Counts, Activations: []NPActivation{}}
	for i := range nr.Histogram.Counts {
		f.FreqHistDataBarValues = append(f.FreqHistDataBarValues, nr.Histogram.Start+(float64(i)+0.5)*nr.Histogram.Width)
	}
	if f.FreqHistDataBarValues == nil {
		f.FreqHistDataBarValues = []float64{}
	}
	logits := nr.DLA
	if logits == nil {
		logits = nr.LMHead
	}
	if logits != nil {
		for _, t := range logits.Top {
			f.PosStr, f.PosValues = append(f.PosStr, t.Token), append(f.PosValues, t.Score)
		}
		for _, t := range logits.Bottom {
			f.NegStr, f.NegValues = append(f.NegStr, t.Token), append(f.NegValues, t.Score)
		}
	}
	if len(nr.TopMax) > 0 {
		f.Activations = append(f.Activations, npActivations(nr.TopMax, nr.TopMax[len(nr.TopMax)-1].Value, nr.Max, int64(len(nr.TopMax)))...)
	}
	for _, b := range nr.QuantileSamples {
		f.Activations = append(f.Activations, npActivations(b.Examples, b.Min, b.Max, b.Contains)...)
	}
	return f
}

// siteOf is the hook name without "blocks.L." (e.g. "mlp.hook_post"), Neuronpedia's source
// suffix convention for neuron sets.
func siteOf(hook string) string {
	n := 0
	for i := 0; i < len(hook); i++ {
		if hook[i] == '.' {
			n++
			if n == 2 {
				return hook[i+1:]
			}
		}
	}
	return hook
}

// pointSource hands out the neuron reports of one hook point one at a time, so exports of a
// large model never hold every report in memory.
type pointSource struct {
	hook  string
	layer int
	n     int
	at    func(j int) NeuronReport
}

// WriteExports writes rep under dir: profile.json (the report), neuron_records/HOOK.jsonl (one
// NeuronRecord per line, neuron order) and neuronpedia/batch-I.json (a JSON array of the
// features of the I-th hook point), each atomically.
func WriteExports(dir string, rep *Report) error {
	var pts []pointSource
	for _, pt := range rep.Points {
		pts = append(pts, pointSource{hook: pt.Hook, layer: pt.Layer, n: len(pt.Neurons), at: func(j int) NeuronReport { return pt.Neurons[j] }})
	}
	return writeExports(dir, rep, pts)
}

// WriteExports writes the outputs of WriteExports straight from the profiler's state, one
// neuron at a time (memory stays bounded by one neuron's report), after decorate (if not nil)
// has added to each neuron's report (e.g. LM-head tokens). Call Finish first.
func (p *Profiler) WriteExports(dir string, prov report.Provenance, set Settings, name TokenNamer, decorate func(*NeuronReport)) error {
	set.Options = p.Opt
	hdr := &Report{SchemaVersion: SchemaVersion, Provenance: prov, Settings: set, Tokens: p.Tokens, Contexts: p.Contexts, BOSExcluded: p.BOSExcluded}
	var pts []pointSource
	for _, l := range p.Layers {
		pts = append(pts, pointSource{hook: l.Hook, layer: l.Layer, n: l.N, at: func(j int) NeuronReport {
			nr := p.neuron(l, j, name)
			if decorate != nil {
				decorate(&nr)
			}
			return nr
		}})
	}
	return writeExports(dir, hdr, pts)
}

func writeExports(dir string, hdr *Report, pts []pointSource) error {
	for _, sub := range []string{"neuron_records", "neuronpedia"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return err
		}
	}
	head, err := json.Marshal(struct {
		SchemaVersion string            `json:"schema_version"`
		Provenance    report.Provenance `json:"provenance"`
		Settings      Settings          `json:"settings"`
		Tokens        int64             `json:"tokens"`
		Contexts      int64             `json:"contexts"`
		BOSExcluded   int64             `json:"bos_positions_excluded"`
	}{hdr.SchemaVersion, hdr.Provenance, hdr.Settings, hdr.Tokens, hdr.Contexts, hdr.BOSExcluded})
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, "profile.json"), func(w *bufio.Writer) error {
		w.Write(head[:len(head)-1])
		w.WriteString(`,"points":[`)
		for i, pt := range pts {
			if i > 0 {
				w.WriteByte(',')
			}
			ph, _ := json.Marshal(struct {
				Hook  string `json:"hook"`
				Layer int    `json:"layer"`
			}{pt.hook, pt.layer})
			w.Write(ph[:len(ph)-1])
			w.WriteString(`,"neurons":[`)
			recPath := filepath.Join(dir, "neuron_records", pt.hook+".jsonl")
			npPath := filepath.Join(dir, "neuronpedia", fmt.Sprintf("batch-%d.json", i))
			err := atomicfile.Write(recPath, func(rw *bufio.Writer) error {
				return atomicfile.Write(npPath, func(nw *bufio.Writer) error {
					nw.WriteByte('[')
					for j := range pt.n {
						nr := pt.at(j)
						if j > 0 {
							w.WriteByte(',')
							nw.WriteByte(',')
						}
						for _, x := range []struct {
							w *bufio.Writer
							v any
						}{{w, nr}, {rw, ToNeuronRecord(nr)}, {nw, ToNeuronpedia(nr, hdr.Settings.ModelID)}} {
							b, err := json.Marshal(x.v)
							if err != nil {
								return fmt.Errorf("%s neuron %d: %v", pt.hook, j, err)
							}
							x.w.Write(b)
						}
						rw.WriteByte('\n')
					}
					nw.WriteString("]\n")
					return nil
				})
			})
			if err != nil {
				return err
			}
			w.WriteString("]}")
		}
		_, err := w.WriteString("]}\n")
		return err
	})
}

// ReadReport reads a profile.json, checking its schema version (v2 files read with
// Settings.Options.IncludeBOS set: they counted every position).
func ReadReport(path string) (*Report, error) {
	var rep Report
	if err := report.ReadJSONFile(path, &rep); err != nil {
		return nil, err
	}
	switch rep.SchemaVersion {
	case SchemaVersion:
	case schemaV2:
		rep.Settings.Options.IncludeBOS = true // v2 counted every position
	default:
		return nil, fmt.Errorf("%s: schema_version %q, this neuronscope reads %q", path, rep.SchemaVersion, SchemaVersion)
	}
	for _, pt := range rep.Points {
		for j := range pt.Neurons {
			pt.Neurons[j].restoreSite()
		}
	}
	return &rep, nil
}
