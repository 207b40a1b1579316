package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/neuronscope/neuronscope/internal/world"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/report"
	"github.com/neuronscope/neuronscope/model/tokenizer"
	"github.com/neuronscope/neuronscope/model/train"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
)

// shape is the architecture and size of a model trained from scratch.
type shape struct {
	Arch     string `json:"arch"`
	Layers   int    `json:"layers"`
	DModel   int    `json:"d_model"`
	DMLP     int    `json:"d_mlp"`
	Heads    int    `json:"heads"`
	KVHeads  int    `json:"kv_heads"`
	Ctx      int    `json:"ctx"`
	InitSeed uint64 `json:"init_seed"`
}

// configJSON writes the HF config.json of the shape for a vocabulary and special tokens.
func (s shape) configJSON(vocab, bos, eos, pad int) ([]byte, error) {
	if s.Heads < 1 || s.DModel%s.Heads != 0 {
		return nil, usagef("--d-model %d must be a positive multiple of --heads %d", s.DModel, s.Heads)
	}
	var c map[string]any
	switch s.Arch {
	case "llama":
		c = map[string]any{
			"architectures": []string{"LlamaForCausalLM"}, "model_type": "llama",
			"hidden_size": s.DModel, "intermediate_size": s.DMLP, "num_hidden_layers": s.Layers,
			"num_attention_heads": s.Heads, "num_key_value_heads": s.KVHeads, "head_dim": s.DModel / s.Heads,
			"vocab_size": vocab, "max_position_embeddings": s.Ctx, "rms_norm_eps": 1e-5,
			"rope_theta": 10000.0, "rope_scaling": nil, "hidden_act": "silu", "tie_word_embeddings": false,
			"attention_bias": false, "mlp_bias": false, "initializer_range": 0.02,
			"bos_token_id": bos, "eos_token_id": eos, "pad_token_id": pad, "torch_dtype": "float32",
		}
	case "gpt2":
		c = map[string]any{
			"architectures": []string{"GPT2LMHeadModel"}, "model_type": "gpt2",
			"activation_function": "gelu_new", "n_embd": s.DModel, "n_inner": s.DMLP, "n_layer": s.Layers,
			"n_head": s.Heads, "n_positions": s.Ctx, "n_ctx": s.Ctx, "vocab_size": vocab,
			"layer_norm_epsilon": 1e-5, "initializer_range": 0.02, "scale_attn_weights": true,
			"scale_attn_by_inverse_layer_idx": false, "reorder_and_upcast_attn": false,
			"attn_pdrop": 0.0, "embd_pdrop": 0.0, "resid_pdrop": 0.0,
			"bos_token_id": bos, "eos_token_id": eos, "pad_token_id": pad, "torch_dtype": "float32",
		}
	default:
		return nil, usagef("--arch %q: neuronscope trains llama or gpt2", s.Arch)
	}
	return json.MarshalIndent(c, "", "  ")
}

// trainReport is training.json, written next to the checkpoint.
type trainReport struct {
	Schema     string            `json:"schema_version"`
	Provenance report.Provenance `json:"provenance"`
	World      string            `json:"world"`
	Shape      shape             `json:"shape"`
	Params     int64             `json:"params"`
	Config     train.Config      `json:"train"`
	Sequences  int               `json:"sequences"`
	Tokens     int               `json:"target_tokens"`
	Seconds    float64           `json:"seconds"`
	TokensPerS float64           `json:"tokens_per_second"`
	Curve      []train.Step      `json:"loss_curve"` // every curve-every steps and the last
	Accuracy   world.Accuracy    `json:"heldout_template_accuracy"`
	Regenerate string            `json:"regenerate"`
}

func newTrainCmd() *cobra.Command {
	var worldDir, out string
	var asJSON, quiet bool
	s := shape{Arch: "llama", Layers: 4, DModel: 128, DMLP: 512, Heads: 4, KVHeads: 2, Ctx: 32, InitSeed: 1}
	cfg := train.DefaultConfig()
	cmd := &cobra.Command{
		Use:   "train --world DIR --out DIR [--arch llama|gpt2] [--steps N]",
		Short: "Train a small model from scratch on a world's corpus and save it as a HF checkpoint",
		Long: `Train a Llama- or GPT-2-architecture model from scratch on train.txt of a world written by
'neuronscope world', evaluate greedy accuracy on its held-out-template fact questions
(eval_facts.jsonl) by relation and language, and write a standard Hugging Face checkpoint
(config.json, model.safetensors, tokenizer.json) plus training.json (loss curve, accuracy,
provenance) to --out. Training is deterministic: the same world, flags and build give the
same bytes.`,
		Example: `  neuronscope train --world testdata/world --out world-llama
  neuronscope train --world testdata/world --arch gpt2 --pack 32 --batch 16 --out world-gpt2
  neuronscope train --world testdata/world --steps 50 --layers 2 --out quick`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if worldDir == "" || out == "" {
				return usagef("--world and --out are required")
			}
			if err := checkTrainFlags(cmd, &s, &cfg); err != nil {
				return err
			}
			if err := checkOutDir("--out", out); err != nil {
				return err
			}
			return runTrain(cmd, worldDir, out, s, cfg, asJSON, quiet)
		},
	}
	f := cmd.Flags()
	f.StringVar(&worldDir, "world", "", "world directory (train.txt, eval_facts.jsonl, tokenizer.json)")
	f.StringVar(&out, "out", "", "output checkpoint directory")
	f.StringVar(&s.Arch, "arch", s.Arch, "architecture: llama or gpt2")
	f.IntVar(&s.Layers, "layers", s.Layers, "layers")
	f.IntVar(&s.DModel, "d-model", s.DModel, "residual width")
	f.IntVar(&s.DMLP, "d-mlp", s.DMLP, "MLP width (neurons per layer)")
	f.IntVar(&s.Heads, "heads", s.Heads, "attention heads")
	f.IntVar(&s.KVHeads, "kv-heads", s.KVHeads, "key/value heads (llama; grouped-query attention when < heads)")
	f.IntVar(&s.Ctx, "ctx", s.Ctx, "maximum positions")
	f.Uint64Var(&s.InitSeed, "init-seed", s.InitSeed, "seed of the initial weights")
	f.IntVar(&cfg.Steps, "steps", cfg.Steps, "optimiser steps")
	f.IntVar(&cfg.BatchSize, "batch", cfg.BatchSize, "sentences per step")
	f.Float64Var(&cfg.LR, "lr", cfg.LR, "peak learning rate")
	f.Float64Var(&cfg.MinLR, "min-lr", cfg.MinLR, "final learning rate (cosine floor)")
	f.IntVar(&cfg.Warmup, "warmup", cfg.Warmup, "warm-up steps")
	f.Float64Var(&cfg.WeightDecay, "weight-decay", cfg.WeightDecay, "AdamW weight decay (matrices only)")
	f.Float64Var(&cfg.ClipNorm, "clip", cfg.ClipNorm, "global gradient-norm clip (0: none)")
	f.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "batch-order seed")
	f.IntVar(&cfg.Pack, "pack", cfg.Pack, "pack consecutive sentences into rows of this many tokens (0: one sentence per row)")
	f.BoolVar(&asJSON, "json", false, "print training.json to stdout")
	f.BoolVar(&quiet, "quiet", false, "no progress bar")
	return cmd
}

// checkTrainFlags checks every numeric flag of train against its range, naming the flag, and
// adapts the default warm-up to a shorter run (clipped to --steps, with a note).
func checkTrainFlags(cmd *cobra.Command, s *shape, cfg *train.Config) error {
	if cfg.Warmup > cfg.Steps && cfg.Steps >= 1 && !cmd.Flags().Changed("warmup") {
		fmt.Fprintf(cmd.ErrOrStderr(), "note: warm-up clipped to %d steps (the default --warmup %d is longer than --steps %d)\n", cfg.Steps, cfg.Warmup, cfg.Steps)
		cfg.Warmup = cfg.Steps
	}
	err := checkRanges(
		intAtLeast("--steps", cfg.Steps, 1), intAtLeast("--batch", cfg.BatchSize, 1),
		rangeCheck{cfg.Warmup >= 0 && cfg.Warmup <= cfg.Steps, fmt.Sprintf("--warmup %d: want 0..--steps (%d)", cfg.Warmup, cfg.Steps)},
		rangeCheck{cfg.LR > 0, fmt.Sprintf("--lr %g: want > 0", cfg.LR)},
		rangeCheck{cfg.MinLR >= 0 && cfg.MinLR <= cfg.LR, fmt.Sprintf("--min-lr %g: want 0..--lr (%g)", cfg.MinLR, cfg.LR)},
		rangeCheck{cfg.WeightDecay >= 0, fmt.Sprintf("--weight-decay %g: want ≥ 0", cfg.WeightDecay)},
		rangeCheck{cfg.ClipNorm >= 0, fmt.Sprintf("--clip %g: want ≥ 0 (0: no clipping)", cfg.ClipNorm)},
		intAtLeast("--pack", cfg.Pack, 0),
		intAtLeast("--layers", s.Layers, 1), intAtLeast("--d-mlp", s.DMLP, 1), intAtLeast("--heads", s.Heads, 1),
		rangeCheck{s.DModel >= 1 && s.DModel%max(s.Heads, 1) == 0, fmt.Sprintf("--d-model %d: want a positive multiple of --heads (%d)", s.DModel, s.Heads)},
		rangeCheck{s.Arch != "llama" || s.KVHeads >= 1 && s.Heads%max(s.KVHeads, 1) == 0, fmt.Sprintf("--kv-heads %d: want a divisor of --heads (%d)", s.KVHeads, s.Heads)},
		intAtLeast("--ctx", s.Ctx, 2),
	)
	return err
}

// worldData is a world directory read for training and evaluation.
type worldData struct {
	tok       *tokenizer.Tokenizer
	tokPath   string
	seqs      [][]int
	questions *corpus.PromptSet
}

func readWorld(dir string) (*worldData, error) {
	d := &worldData{tokPath: filepath.Join(dir, "tokenizer.json")}
	var err error
	if d.tok, err = tokenizer.Load(d.tokPath); err != nil {
		return nil, usagef("--world %s: %v (write a world with 'neuronscope world --out DIR')", dir, err)
	}
	bos, ok := d.tok.BOS()
	if !ok {
		return nil, fmt.Errorf("%s: no BOS token", d.tokPath)
	}
	enc := corpus.Encoder{Tok: d.tok, Policy: tokenizer.BOSAlways, BOS: bos, Vocab: d.tok.VocabSize()}
	err = corpus.ReadDocuments(filepath.Join(dir, "train.txt"), func(doc corpus.Document) error {
		ids, err := enc.Encode(doc)
		if err != nil {
			return &corpus.InputError{Path: doc.Source, Line: doc.Line, Err: err}
		}
		d.seqs = append(d.seqs, ids)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if d.questions, err = corpus.ReadPromptSet(filepath.Join(dir, "eval_facts.jsonl"), enc, corpus.PromptOptions{}); err != nil {
		return nil, err
	}
	return d, nil
}

func runTrain(cmd *cobra.Command, worldDir, out string, s shape, cfg train.Config, asJSON, quiet bool) error {
	d, err := readWorld(worldDir)
	var ie *corpus.InputError
	if errors.As(err, &ie) {
		return usagef("--world %s: %v", worldDir, err)
	}
	if err != nil {
		return err
	}
	pad, _ := d.tok.TokenToID("<pad>")
	eos, _ := d.tok.TokenToID("<eos>")
	bos, _ := d.tok.BOS()
	cfg.PadID = pad
	cj, err := s.configJSON(d.tok.VocabSize(), bos, eos, pad)
	if err != nil {
		return err
	}
	mc, err := model.ParseConfig(cj, "generated config.json")
	if err != nil {
		return usagef("model shape (--layers --d-model --d-mlp --heads --kv-heads --ctx): %v", err)
	}
	longest := 0
	for _, seq := range d.seqs {
		longest = max(longest, len(seq))
	}
	switch {
	case longest > s.Ctx:
		return usagef("--ctx %d: the world's longest training sentence has %d tokens", s.Ctx, longest)
	case cfg.Pack > s.Ctx:
		return usagef("--pack %d is more than --ctx %d", cfg.Pack, s.Ctx)
	case cfg.Pack > 0 && cfg.Pack < longest:
		return usagef("--pack %d: the world's longest training sentence has %d tokens", cfg.Pack, longest)
	}
	m, err := model.NewRandom(mc, s.InitSeed)
	if err != nil {
		return err
	}
	train.Init(m, s.InitSeed)
	tr, err := train.New(m, cfg)
	if err != nil {
		return usagef("%v", err)
	}
	var bar *progressbar.ProgressBar
	if !quiet {
		bar = progressbar.NewOptions(cfg.Steps, progressbar.OptionSetWriter(cmd.ErrOrStderr()),
			progressbar.OptionSetDescription("training"), progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(200*time.Millisecond))
	}
	rep := trainReport{Schema: "neuronscope.train/v1", World: worldDir, Shape: s, Params: m.ParamCount(),
		Config: cfg, Sequences: len(d.seqs),
		Regenerate: "neuronscope world --out " + worldDir + " && neuronscope " + strings.Join(os.Args[1:], " ")}
	every := max(1, cfg.Steps/100)
	var last train.Step
	err = tr.Run(d.seqs, func(st train.Step) {
		last = st
		if st.Step%every == 0 || st.Step == cfg.Steps {
			rep.Curve = append(rep.Curve, st)
		}
		if bar != nil {
			bar.Describe(fmt.Sprintf("training  loss %.3f  %.0f tok/s", st.Loss, float64(st.Tokens)/st.Elapsed.Seconds()))
			bar.Add(1)
		}
	})
	if bar != nil {
		bar.Finish()
		fmt.Fprintln(cmd.ErrOrStderr())
	}
	if err != nil {
		return err
	}
	rep.Tokens, rep.Seconds = last.Tokens, last.Elapsed.Seconds()
	rep.TokensPerS = float64(last.Tokens) / last.Elapsed.Seconds()
	pred, err := corpus.Next(m, d.questions.Prompts(), 256)
	if err != nil {
		return err
	}
	rep.Accuracy = world.Score(d.questions, d.questions.CorrectNext(pred))
	if err := m.Save(out, cj, "F32"); err != nil {
		return err
	}
	tokBytes, err := os.ReadFile(d.tokPath)
	if err != nil {
		return err
	}
	if err := report.WriteFile(filepath.Join(out, "tokenizer.json"), func(w io.Writer) error {
		_, err := w.Write(tokBytes)
		return err
	}); err != nil {
		return err
	}
	p := report.New()
	p.ModelDir, p.ModelType, p.BOSPolicy, p.Padding = out, s.Arch, "always (<bos> first)", "right, pad id never a target"
	seed := int64(cfg.Seed)
	p.Seed, p.Dataset = &seed, filepath.Join(worldDir, "train.txt")+" (all lines, shuffled per epoch)"
	if mm, err := model.Load(out); err == nil {
		p.ConfigHash = mm.Config.Hash
		mm.Close()
	}
	rep.Provenance = p
	if err := report.WriteFile(filepath.Join(out, "training.json"), func(w io.Writer) error {
		return report.WriteJSON(w, rep)
	}); err != nil {
		return err
	}
	if asJSON {
		return report.WriteJSON(cmd.OutOrStdout(), rep)
	}
	w := bufio.NewWriter(cmd.OutOrStdout())
	fmt.Fprintf(w, "trained %s (%d params) for %d steps in %s: final loss %.4f, %.0f tokens/s\n",
		s.Arch, rep.Params, cfg.Steps, time.Duration(rep.Seconds*float64(time.Second)).Round(time.Second), last.Loss, rep.TokensPerS)
	fmt.Fprintf(w, "held-out-template greedy accuracy (%s):\n%s", filepath.Join(worldDir, "eval_facts.jsonl"), rep.Accuracy.Table())
	fmt.Fprintf(w, "wrote %s\n", out)
	return w.Flush()
}

func init() { extraCommands = append(extraCommands, newTrainCmd) }
