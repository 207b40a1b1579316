package profile

import (
	"bufio"
	"encoding/gob"
	"fmt"
	"os"

	"github.com/neuronscope/neuronscope/internal/atomicfile"
)

// checkpoint is the head of what Save writes: a format tag, the caller's fingerprint of the run
// settings (a resumed run must use the same model, data and options), the profiler's scalars
// and the number of layers; each Layer follows as its own gob value, so neither writing nor
// reading ever buffers more than one layer.
type checkpoint struct {
	Format      string
	Fingerprint string
	Opt         Options
	Tokens      int64
	Contexts    int64
	Batches     int64
	NLayers     int
}

const checkpointFormat = "neuronscope.profile.checkpoint/v2"

// Save writes the profiler state to path atomically (temp file, fsync, rename), so an
// interruption while saving leaves the previous checkpoint intact.
func (p *Profiler) Save(path, fingerprint string) error {
	return atomicfile.Write(path, func(w *bufio.Writer) error {
		enc := gob.NewEncoder(w)
		err := enc.Encode(checkpoint{Format: checkpointFormat, Fingerprint: fingerprint, Opt: p.Opt,
			Tokens: p.Tokens, Contexts: p.Contexts, Batches: p.Batches, NLayers: len(p.Layers)})
		for _, l := range p.Layers {
			if err != nil {
				return err
			}
			err = enc.Encode(l)
		}
		return err
	})
}

// Load reads a checkpoint written by Save; the fingerprint must match.
func Load(path, fingerprint string) (*Profiler, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dec := gob.NewDecoder(bufio.NewReaderSize(f, 1<<20))
	var c checkpoint
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%s: not a profile checkpoint: %v", path, err)
	}
	if c.Format != checkpointFormat {
		return nil, fmt.Errorf("%s: checkpoint format %q, want %q", path, c.Format, checkpointFormat)
	}
	if c.Fingerprint != fingerprint {
		return nil, fmt.Errorf("%s: the checkpoint was written by a run with other settings (%s), not %s", path, c.Fingerprint, fingerprint)
	}
	p := &Profiler{Opt: c.Opt, Tokens: c.Tokens, Contexts: c.Contexts, Batches: c.Batches}
	for i := range c.NLayers {
		l := new(Layer)
		if err := dec.Decode(l); err != nil {
			return nil, fmt.Errorf("%s: layer %d: %v", path, i, err)
		}
		p.Layers = append(p.Layers, l)
	}
	return p, nil
}
