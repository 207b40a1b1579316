package profile

import (
	"bufio"
	"container/heap"
	"encoding/json"
	"fmt"
	"os"

	"github.com/neuronscope/neuronscope/internal/jsonerr"
)

// ReadReportTop reads a profile.json as a stream, keeping the statistics, labels and verdicts of
// every neuron but the examples, LM-head and DLA tokens only of the n neurons that WriteHTML
// with MaxNeurons n details (the largest max activation, ties to the earlier neuron); n ≤ 0
// keeps everything. Memory is bounded by n neurons' examples, whatever the report's size.
func ReadReportTop(path string, n int) (*Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dec := json.NewDecoder(bufio.NewReaderSize(f, 1<<20))
	rep := &Report{}
	fail := func(err error) (*Report, error) { return nil, fmt.Errorf("%s: %v", path, jsonerr.Plain(err)) }
	if err := expectDelim(dec, '{'); err != nil {
		return fail(err)
	}
	kept := &keepHeap{}
	var order int
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return fail(err)
		}
		switch key {
		case "schema_version":
			err = dec.Decode(&rep.SchemaVersion)
			if err == nil && rep.SchemaVersion != SchemaVersion && rep.SchemaVersion != schemaV2 {
				return nil, fmt.Errorf("%s: schema_version %q, this neuronscope reads %q", path, rep.SchemaVersion, SchemaVersion)
			}
		case "provenance":
			err = dec.Decode(&rep.Provenance)
		case "settings":
			err = dec.Decode(&rep.Settings)
		case "tokens":
			err = dec.Decode(&rep.Tokens)
		case "contexts":
			err = dec.Decode(&rep.Contexts)
		case "bos_positions_excluded":
			err = dec.Decode(&rep.BOSExcluded)
		case "points":
			err = readPoints(dec, rep, func(pi, j int, nr *NeuronReport) {
				if n <= 0 {
					return
				}
				it := keepItem{max: nr.Max, order: order, pi: pi, j: j, full: *nr}
				order++
				stripExamples(nr)
				if kept.Len() < n {
					heap.Push(kept, it)
				} else if detailBefore(it.max, it.order, (*kept)[0].max, (*kept)[0].order) {
					(*kept)[0] = it
					heap.Fix(kept, 0)
				}
			})
		default:
			var skip json.RawMessage
			err = dec.Decode(&skip)
		}
		if err != nil {
			return fail(fmt.Errorf("%q: %v", key, jsonerr.Plain(err)))
		}
	}
	if rep.SchemaVersion == "" {
		return fail(fmt.Errorf("no schema_version: not a neuronscope profile"))
	}
	if rep.SchemaVersion == schemaV2 {
		rep.Settings.Options.IncludeBOS = true // v2 counted every position
	}
	for _, it := range *kept {
		rep.Points[it.pi].Neurons[it.j] = it.full
	}
	return rep, nil
}

func expectDelim(dec *json.Decoder, d json.Delim) error {
	t, err := dec.Token()
	if err != nil {
		return err
	}
	if t != d {
		return fmt.Errorf("expected %q, found %v", d, t)
	}
	return nil
}

func readPoints(dec *json.Decoder, rep *Report, each func(pi, j int, nr *NeuronReport)) error {
	if err := expectDelim(dec, '['); err != nil {
		return err
	}
	for dec.More() {
		if err := expectDelim(dec, '{'); err != nil {
			return err
		}
		pi := len(rep.Points)
		rep.Points = append(rep.Points, PointReport{})
		pt := &rep.Points[pi]
		for dec.More() {
			key, err := dec.Token()
			if err != nil {
				return err
			}
			switch key {
			case "hook":
				err = dec.Decode(&pt.Hook)
			case "layer":
				err = dec.Decode(&pt.Layer)
			case "neurons":
				if err = expectDelim(dec, '['); err != nil {
					return err
				}
				for dec.More() {
					var nr NeuronReport
					if err := dec.Decode(&nr); err != nil {
						return jsonerr.Plain(err)
					}
					nr.restoreSite()
					each(pi, len(pt.Neurons), &nr)
					pt.Neurons = append(pt.Neurons, nr)
				}
				_, err = dec.Token()
			default:
				var skip json.RawMessage
				err = dec.Decode(&skip)
			}
			if err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return err
		}
	}
	_, err := dec.Token()
	return err
}

// stripExamples drops what only the detailed view needs.
func stripExamples(nr *NeuronReport) {
	nr.TopMax, nr.TopMin, nr.RandomSample, nr.QuantileSamples, nr.LMHead, nr.DLA = nil, nil, nil, nil, nil, nil
}

// detailBefore is the order in which WriteHTML picks neurons to detail: larger max first, then
// the earlier neuron in report order.
func detailBefore(maxA float32, orderA int, maxB float32, orderB int) bool {
	return maxA > maxB || (maxA == maxB && orderA < orderB)
}

type keepItem struct {
	max   float32
	order int
	pi, j int
	full  NeuronReport
}

// keepHeap has the neuron that would be detailed last at the root.
type keepHeap []keepItem

func (h keepHeap) Len() int { return len(h) }
func (h keepHeap) Less(a, b int) bool {
	return detailBefore(h[b].max, h[b].order, h[a].max, h[a].order)
}
func (h keepHeap) Swap(a, b int) { h[a], h[b] = h[b], h[a] }
func (h *keepHeap) Push(x any)   { *h = append(*h, x.(keepItem)) }
func (h *keepHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
