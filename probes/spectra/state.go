package spectra

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/neuronscope/neuronscope/internal/atomicfile"
)

// stateMagic starts a checkpoint file (version 1).
const stateMagic = "neuronscope.spectra-state.v1\n"

// State is a checkpoint of a streaming run: the accumulators, what has been streamed into
// them, and the fingerprint of the settings they belong to (a run resumes only from a state
// with its own fingerprint).
type State struct {
	Fingerprint string
	Stats       Stats
	Pairs       []*Pair
}

// stateHeader is the JSON header of a checkpoint file.
type stateHeader struct {
	Fingerprint string `json:"fingerprint"`
	Stats       Stats  `json:"stats"`
	Layers      []int  `json:"layers"`
	Widths      []int  `json:"widths"`
}

// SaveState writes st to path atomically: the magic line, a length-prefixed JSON header
// (fingerprint, counts, layers, widths) and each pair's Pre and Post accumulator
// (Covariance.MarshalBinary, length-prefixed), one at a time. A pair must have both.
func SaveState(path string, st *State) error {
	h := stateHeader{Fingerprint: st.Fingerprint, Stats: st.Stats}
	for _, p := range st.Pairs {
		if p.Pre == nil || p.Post == nil {
			return fmt.Errorf("spectra: layer %d lacks an accumulator; a state holds both", p.Layer)
		}
		h.Layers = append(h.Layers, p.Layer)
		h.Widths = append(h.Widths, p.Pre.Width())
	}
	js, err := json.Marshal(h)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, func(w *bufio.Writer) error {
		put := func(b []byte) error {
			if err := binary.Write(w, binary.LittleEndian, uint64(len(b))); err != nil {
				return err
			}
			_, err := w.Write(b)
			return err
		}
		if _, err := w.WriteString(stateMagic); err != nil {
			return err
		}
		if err := put(js); err != nil {
			return err
		}
		for _, p := range st.Pairs {
			for _, c := range []*Covariance{p.Pre, p.Post} {
				b, err := c.MarshalBinary()
				if err != nil {
					return err
				}
				if err := put(b); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// LoadState reads a checkpoint written by SaveState. With a non-empty fingerprint, a state of
// other settings is an error naming path; the accumulators get opts (Float32Products, ...). A
// file that is not a complete state is an error naming path.
func LoadState(path, fingerprint string, opts Options) (*State, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	bad := func(what string, err error) (*State, error) {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			err = errors.New("the file ends early")
		}
		return nil, fmt.Errorf("%s: not a complete spectra checkpoint (%s: %v)", path, what, err)
	}
	magic := make([]byte, len(stateMagic))
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != stateMagic {
		if err == nil {
			err = errors.New("wrong magic")
		}
		return bad("header", err)
	}
	get := func(limit uint64) ([]byte, error) {
		var n uint64
		if err := binary.Read(r, binary.LittleEndian, &n); err != nil {
			return nil, err
		}
		if n > limit {
			return nil, fmt.Errorf("a record of %d bytes", n)
		}
		b := make([]byte, n)
		_, err := io.ReadFull(r, b)
		return b, err
	}
	js, err := get(1 << 24)
	if err != nil {
		return bad("header", err)
	}
	var h stateHeader
	if err := json.Unmarshal(js, &h); err != nil {
		return bad("header", err)
	}
	if fingerprint != "" && h.Fingerprint != fingerprint {
		return nil, fmt.Errorf("%s: a checkpoint of other settings (data, model, layers, context, batch, BOS or product precision differ); delete it or start without resuming", path)
	}
	if len(h.Layers) != len(h.Widths) || len(h.Layers) == 0 {
		return bad("header", fmt.Errorf("%d layers, %d widths", len(h.Layers), len(h.Widths)))
	}
	st := &State{Fingerprint: h.Fingerprint, Stats: h.Stats}
	for i, l := range h.Layers {
		w := h.Widths[i]
		if w < 1 || w > 1<<20 {
			return bad("header", fmt.Errorf("width %d", w))
		}
		p := NewPair(l, w, opts)
		for _, c := range []*Covariance{p.Pre, p.Post} {
			b, err := get(uint64(len(covMagic)+16) + 8*uint64(2*w+w*(w+1)/2))
			if err != nil {
				return bad(fmt.Sprintf("layer %d", l), err)
			}
			if err := c.UnmarshalBinary(b); err != nil {
				return bad(fmt.Sprintf("layer %d", l), err)
			}
			if c.Width() != w {
				return bad(fmt.Sprintf("layer %d", l), fmt.Errorf("width %d, header %d", c.Width(), w))
			}
		}
		st.Pairs = append(st.Pairs, p)
	}
	return st, nil
}
