package expertise

import (
	"fmt"
	"runtime"
	"sync"
)

// Responses is a response matrix [examples, neurons] (for the relation finder: each example's
// mean-pooled response of every neuron) read in column blocks, so that scoring every neuron
// never needs the whole matrix, nor a copy of it per neuron, in memory.
type Responses interface {
	// Dims returns the matrix shape.
	Dims() (examples, neurons int)
	// Columns copies the responses of examples rows to neurons [lo, hi) into dst, neuron-major:
	// dst[(j−lo)·len(rows) + r] = response of example rows[r] at neuron j. len(dst) is
	// (hi−lo)·len(rows). Errors are for the source (a file that cannot be read).
	Columns(dst []float32, rows []int, lo, hi int) error
}

// Dense is an in-memory Responses: Data is [Examples, Neurons], row-major.
type Dense struct {
	Examples, Neurons int
	Data              []float32
}

// Dims returns (Examples, Neurons).
func (d *Dense) Dims() (int, int) { return d.Examples, d.Neurons }

// Columns gathers and transposes the block in 8-neuron strips: each example row is read
// contiguously and written to 8 neuron-major destinations.
func (d *Dense) Columns(dst []float32, rows []int, lo, hi int) error {
	m := len(rows)
	w := hi - lo
	if lo < 0 || hi > d.Neurons || lo > hi || len(dst) != w*m {
		panic(fmt.Sprintf("expertise: Columns [%d, %d) of %d neurons into %d values for %d rows", lo, hi, d.Neurons, len(dst), m))
	}
	for j0 := 0; j0 < w; j0 += 8 {
		j1 := min(j0+8, w)
		for r, e := range rows {
			src := d.Data[e*d.Neurons+lo+j0 : e*d.Neurons+lo+j1]
			for j, v := range src {
				dst[(j0+j)*m+r] = v
			}
		}
	}
	return nil
}

// Options configures AveragePrecisions. Zero fields take the defaults.
type Options struct {
	// Chunk is the number of neurons read per Columns call (default 512): the memory used is
	// Workers·Chunk·len(rows) float32s.
	Chunk int
	// Workers is the number of goroutines scoring chunks (default GOMAXPROCS).
	Workers int
}

// AveragePrecisions fills dst (one entry per neuron) with every neuron's average precision on
// the examples rows, positive[r] labelling rows[r]: sklearn's average_precision_score of
// (positive, that neuron's responses), bit for bit (see Scorer). Neurons are read in chunks of
// Options.Chunk columns and scored by Options.Workers goroutines. An error names the first
// failing neuron (a non-finite response) or the source's error; dst is then incomplete.
func AveragePrecisions(dst []float64, src Responses, rows []int, positive []bool, opt Options) error {
	examples, neurons := src.Dims()
	if len(dst) != neurons {
		panic(fmt.Sprintf("expertise: dst has %d entries for %d neurons", len(dst), neurons))
	}
	if len(rows) != len(positive) {
		panic(fmt.Sprintf("expertise: %d rows but %d labels", len(rows), len(positive)))
	}
	nPos := 0
	for r, e := range rows {
		if e < 0 || e >= examples {
			return fmt.Errorf("example %d is out of range [0, %d)", e, examples)
		}
		if positive[r] {
			nPos++
		}
	}
	if nPos == 0 {
		return ErrNoPositives
	}
	if opt.Chunk <= 0 {
		opt.Chunk = 512
	}
	if opt.Workers <= 0 {
		opt.Workers = runtime.GOMAXPROCS(0)
	}
	chunks := (neurons + opt.Chunk - 1) / opt.Chunk
	var (
		mu       sync.Mutex
		firstErr error
		errAt    = neurons
		next     = make(chan int)
		wg       sync.WaitGroup
	)
	fail := func(at int, err error) {
		mu.Lock()
		if at < errAt {
			errAt, firstErr = at, err
		}
		mu.Unlock()
	}
	m := len(rows)
	for w := 0; w < min(opt.Workers, chunks); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var s Scorer
			buf := make([]float32, opt.Chunk*m)
			for c := range next {
				lo, hi := c*opt.Chunk, min((c+1)*opt.Chunk, neurons)
				block := buf[:(hi-lo)*m]
				if err := src.Columns(block, rows, lo, hi); err != nil {
					fail(lo, fmt.Errorf("neurons [%d, %d): %w", lo, hi, err))
					continue
				}
				for j := lo; j < hi; j++ {
					ap, err := s.AveragePrecision(block[(j-lo)*m:(j-lo+1)*m], positive)
					if err != nil {
						fail(j, fmt.Errorf("neuron %d: %w", j, err))
						break
					}
					dst[j] = ap
				}
			}
		}()
	}
	for c := 0; c < chunks; c++ {
		mu.Lock()
		stop := firstErr != nil
		mu.Unlock()
		if stop {
			break
		}
		next <- c
	}
	close(next)
	wg.Wait()
	return firstErr
}
