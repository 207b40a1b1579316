package sae

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"github.com/neuronscope/neuronscope/model/safetensors"
)

// RunOptions control Train.
type RunOptions struct {
	// OnStep, if set, is called after every step of every SAE (i is its index).
	OnStep func(i int, st StepStats)
	// Checkpoint is a file (conventionally trainer_state.safetensors) that Train rewrites
	// atomically every CheckpointEvery steps: all trainers, the optimiser states and the
	// batcher position, enough to continue bit for bit (ResumeCheckpoint). "" disables.
	Checkpoint      string
	CheckpointEvery int // steps between checkpoints
	// Source describes the training data (e.g. the activation file and tensor); a checkpoint
	// records it and resuming checks it.
	Source string
}

// Train trains every trainer on the same batches drawn from b (one pass over the data feeds
// them all; each reads its own Column range of a row) until each has taken its Steps. All
// trainers must share BatchSize and fit in b's rows. Trainers that are not initialised are
// initialised first from a statistics sample: the first max(StatsRows) rows b yields (which
// are then not trained on, as a separate sample would not be). A step that meets a non-finite
// value stops training with a *NonFiniteError; the last checkpoint written before it stays.
func Train(b Batcher, trainers []*Trainer, opt RunOptions) error {
	if len(trainers) == 0 {
		return fmt.Errorf("sae: no SAEs to train")
	}
	w := b.Width()
	bs := trainers[0].cfg.BatchSize
	for i, t := range trainers {
		c := t.cfg
		if c.BatchSize != bs {
			return fmt.Errorf("sae: SAE %d has batch size %d, SAE 0 has %d: SAEs trained on one pass share their batches", i, c.BatchSize, bs)
		}
		if c.Column+c.DIn > w {
			return fmt.Errorf("sae: SAE %d reads columns %d..%d but the rows have width %d", i, c.Column, c.Column+c.DIn, w)
		}
	}
	if opt.Checkpoint != "" && opt.CheckpointEvery < 1 {
		return fmt.Errorf("sae: checkpoint every %d steps: want ≥ 1", opt.CheckpointEvery)
	}
	if opt.Checkpoint != "" {
		if _, ok := b.(Resumable); !ok {
			return fmt.Errorf("sae: checkpointing needs a resumable batcher, and %T is not", b)
		}
	}
	statsRows := 0
	for _, t := range trainers {
		if !t.inited {
			statsRows = max(statsRows, t.cfg.StatsRows)
		}
	}
	if statsRows > 0 {
		sample := make([]float32, statsRows*w)
		if err := b.Next(sample); err != nil {
			return fmt.Errorf("sae: drawing the statistics sample of %d rows: %w", statsRows, err)
		}
		for i, t := range trainers {
			if t.inited {
				continue
			}
			if err := t.Init(sample, w); err != nil {
				return fmt.Errorf("sae: SAE %d: %w", i, err)
			}
		}
	}
	batch := make([]float32, bs*w)
	for {
		active := false
		for _, t := range trainers {
			if !t.Done() {
				active = true
			}
		}
		if !active {
			return nil
		}
		if err := b.Next(batch); err != nil {
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("sae: the data ran out before step %d (let the producer loop, or give more data): %w", trainers[0].step+1, err)
			}
			return fmt.Errorf("sae: batch %d: %w", trainers[0].step+1, err)
		}
		step := 0
		for i, t := range trainers {
			if t.Done() {
				continue
			}
			st, err := t.Step(batch, w)
			if err != nil {
				if len(trainers) > 1 {
					return fmt.Errorf("SAE %d (%s): %w", i, t.cfg.describe(), err)
				}
				return err
			}
			step = max(step, t.step)
			if opt.OnStep != nil {
				opt.OnStep(i, st)
			}
		}
		if opt.Checkpoint != "" && step%opt.CheckpointEvery == 0 {
			if err := SaveCheckpoint(opt.Checkpoint, b.(Resumable), trainers, opt.Source); err != nil {
				return err
			}
		}
	}
}

const checkpointSchema = "neuronscope.sae.checkpoint/v1"

type trainerMeta struct {
	Config   TrainConfig `json:"config"`
	Step     int         `json:"step"`
	Tokens   int64       `json:"tokens"`
	MSEScale string      `json:"mse_scale"` // float64 bits, exact
	InScale  string      `json:"input_scale"`
	BThresh  string      `json:"batch_topk_threshold"`
}

type checkpointMeta struct {
	Schema   string          `json:"schema"`
	Source   string          `json:"source"`
	Batcher  json.RawMessage `json:"batcher"`
	Trainers []trainerMeta   `json:"saes"`
}

func f64bits(v float64) string { return strconv.FormatUint(math.Float64bits(v), 16) }

func parseBits(s string) (float64, error) {
	u, err := strconv.ParseUint(s, 16, 64)
	return math.Float64frombits(u), err
}

// SaveCheckpoint writes every trainer's weights, Adam moments, counters and scales, and the
// batcher's position, to one safetensors file (atomically: a crash leaves the previous one).
func SaveCheckpoint(path string, b Resumable, trainers []*Trainer, source string) error {
	bm, buffered, err := b.SaveState()
	if err != nil {
		return err
	}
	meta := checkpointMeta{Schema: checkpointSchema, Source: source, Batcher: bm}
	var ts []safetensors.WriteTensor
	for i, t := range trainers {
		meta.Trainers = append(meta.Trainers, trainerMeta{Config: t.cfg, Step: t.step, Tokens: t.tokens,
			MSEScale: f64bits(t.mseScale), InScale: f64bits(t.inScale), BThresh: f64bits(t.bthresh)})
		for _, part := range []struct {
			prefix string
			p      *params
		}{{"", &t.p}, {"adam_m.", &t.m}, {"adam_v.", &t.v}} {
			for pi, v := range part.p.list() {
				ts = append(ts, safetensors.F32(fmt.Sprintf("sae.%d.%s%s", i, part.prefix, paramNames[pi]), []int{len(v)}, v))
			}
		}
		ts = append(ts, safetensors.I64(fmt.Sprintf("sae.%d.steps_since_fired", i), []int{len(t.sinceHit)}, t.sinceHit))
	}
	if buffered != nil {
		ts = append(ts, safetensors.F32("batcher.buffer", []int{len(buffered)}, buffered))
	}
	mj, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	return safetensors.WriteFile(path, ts, map[string]string{"neuronscope.sae.checkpoint": string(mj)})
}

var paramNames = []string{"enc", "b_enc", "dec", "b_dec", "log_threshold"}

// Checkpoint is a training state read by ReadCheckpoint.
type Checkpoint struct {
	Path     string     // the checkpoint file
	Source   string     // the training data it records
	Trainers []*Trainer // every SAE's trainer, at the checkpoint's step
	batcher  []byte
	buffered []float32
}

// ReadCheckpoint reads a checkpoint written by SaveCheckpoint (or Train). Errors name the file
// and the tensor or field at fault.
func ReadCheckpoint(path string) (*Checkpoint, error) {
	f, err := safetensors.OpenFile(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	raw, ok := f.Metadata()["neuronscope.sae.checkpoint"]
	if !ok {
		return nil, fmt.Errorf("%s: not an SAE training checkpoint (no neuronscope.sae.checkpoint metadata)", path)
	}
	var meta checkpointMeta
	if err := json.Unmarshal([]byte(raw), &meta); err != nil {
		return nil, fmt.Errorf("%s: checkpoint metadata: %v", path, err)
	}
	if meta.Schema != checkpointSchema {
		return nil, fmt.Errorf("%s: checkpoint schema %q, want %q", path, meta.Schema, checkpointSchema)
	}
	ck := &Checkpoint{Path: path, Source: meta.Source, batcher: meta.Batcher}
	read := func(name string, dst []float32) error {
		t, ok := f.Tensor(name)
		if !ok {
			return fmt.Errorf("%s: missing tensor %s", path, name)
		}
		if t.DType != "F32" || t.NumElements() != len(dst) {
			return fmt.Errorf("%s: tensor %s is %s %v, want F32 [%d]", path, name, t.DType, t.Shape, len(dst))
		}
		v, err := t.Float32s()
		if err != nil {
			return fmt.Errorf("%s: tensor %s: %v", path, name, err)
		}
		copy(dst, v)
		return nil
	}
	for i, tm := range meta.Trainers {
		t, err := NewTrainer(tm.Config)
		if err != nil {
			return nil, fmt.Errorf("%s: SAE %d: %v", path, i, err)
		}
		t.step, t.tokens, t.inited = tm.Step, tm.Tokens, true
		if t.mseScale, err = parseBits(tm.MSEScale); err == nil {
			if t.inScale, err = parseBits(tm.InScale); err == nil {
				t.bthresh, err = parseBits(tm.BThresh)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%s: SAE %d: scales: %v", path, i, err)
		}
		for _, part := range []struct {
			prefix string
			p      *params
		}{{"", &t.p}, {"adam_m.", &t.m}, {"adam_v.", &t.v}} {
			for pi, v := range part.p.list() {
				if err := read(fmt.Sprintf("sae.%d.%s%s", i, part.prefix, paramNames[pi]), v); err != nil {
					return nil, err
				}
			}
		}
		name := fmt.Sprintf("sae.%d.steps_since_fired", i)
		st, ok := f.Tensor(name)
		if !ok || st.DType != "I64" || st.NumElements() != len(t.sinceHit) {
			return nil, fmt.Errorf("%s: tensor %s missing or not I64 [%d]", path, name, len(t.sinceHit))
		}
		v, err := int64s(st)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %v", path, name, err)
		}
		copy(t.sinceHit, v)
		ck.Trainers = append(ck.Trainers, t)
	}
	if len(ck.Trainers) == 0 {
		return nil, fmt.Errorf("%s: checkpoint holds no SAEs", path)
	}
	if t, ok := f.Tensor("batcher.buffer"); ok {
		v, err := t.Float32s()
		if err != nil {
			return nil, fmt.Errorf("%s: batcher.buffer: %v", path, err)
		}
		ck.buffered = append([]float32(nil), v...)
	}
	return ck, nil
}

// Resume checks that the checkpoint was written for exactly these settings and data (any
// difference is an error listing what changed) and restores the batcher's position. It
// returns the restored trainers, ready for Train.
func (ck *Checkpoint) Resume(b Resumable, cfgs []TrainConfig, source string) ([]*Trainer, error) {
	if len(cfgs) != len(ck.Trainers) {
		return nil, fmt.Errorf("%s: checkpoint holds %d SAEs, the run asks for %d", ck.Path, len(ck.Trainers), len(cfgs))
	}
	for i, c := range cfgs {
		if d := ck.Trainers[i].cfg.diff(c); len(d) > 0 {
			return nil, fmt.Errorf("%s: SAE %d was trained with other settings; resume with the same ones (or start afresh): %v", ck.Path, i, d)
		}
	}
	if ck.Source != source {
		return nil, fmt.Errorf("%s: checkpoint was trained on %q, the run reads %q", ck.Path, ck.Source, source)
	}
	if err := b.RestoreState(ck.batcher, ck.buffered); err != nil {
		return nil, fmt.Errorf("%s: %w", ck.Path, err)
	}
	return ck.Trainers, nil
}
