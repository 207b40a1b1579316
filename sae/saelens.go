package sae

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model/report"
	"github.com/neuronscope/neuronscope/model/safetensors"
)

// The SAELens file names inside an SAE directory.
const (
	CfgFile     = "cfg.json"
	WeightsFile = "sae_weights.safetensors"
)

// saeLensFormatVersion is the SAELens version whose cfg.json layout Save writes (SAELens reads
// configs of version ≥ 6 as they are, older ones through its compatibility path).
const saeLensFormatVersion = "6.0.0"

// Load reads an SAE directory in SAELens's format: cfg.json and sae_weights.safetensors. It
// accepts the SAELens 6 layout (model and hook names under "metadata") and the older flat one
// (hook_point/hook_name, activation_fn_str, activation_fn_kwargs.k, boolean
// normalize_activations). Training-only keys are ignored; a setting neuronscope cannot honour
// (an unknown architecture, a head index, a fine-tuning scaling factor, a non-ReLU activation)
// is an error, as is any weight whose shape disagrees with the config or any tensor the
// architecture does not have. Errors name the file and the key.
func Load(dir string) (*SAE, error) {
	cfgPath := filepath.Join(dir, CfgFile)
	raw, err := os.ReadFile(cfgPath)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", cfgPath, unwrapPath(err))
	}
	cfg, wantHash, err := ParseConfig(raw, cfgPath)
	if err != nil {
		return nil, err
	}
	wPath := filepath.Join(dir, WeightsFile)
	if wantHash != "" {
		if got, err := fileSHA256(wPath); err == nil && got != wantHash {
			return nil, fmt.Errorf("%s: sha256 %s differs from metadata.neuronscope_weights_sha256 %s in %s (weights and config from different saves)", wPath, got, wantHash, cfgPath)
		}
	}
	s, err := readWeights(wPath, cfg)
	if err != nil {
		return nil, err
	}
	s.Path = dir
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return s, nil
}

func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// cfgReader reads typed values from a cfg.json object, remembering the first error.
type cfgReader struct {
	name string
	top  map[string]json.RawMessage
	meta map[string]json.RawMessage
	err  error
}

func (r *cfgReader) fail(key, format string, a ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%s: %s: %s", r.name, key, fmt.Sprintf(format, a...))
	}
}

// get looks a key up in metadata first (SAELens 6), then at the top level.
func (r *cfgReader) get(key string) (json.RawMessage, string, bool) {
	if v, ok := r.meta[key]; ok && string(v) != "null" {
		return v, "metadata." + key, true
	}
	if v, ok := r.top[key]; ok && string(v) != "null" {
		return v, key, true
	}
	return nil, key, false
}

func (r *cfgReader) int(key string, def int, required bool) int {
	v, where, ok := r.get(key)
	if !ok {
		if required {
			r.fail(key, "missing")
		}
		return def
	}
	var f float64
	if err := json.Unmarshal(v, &f); err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<40 {
		r.fail(where, "%s is not an integer", v)
		return def
	}
	return int(f)
}

func (r *cfgReader) str(key, def string) string {
	v, where, ok := r.get(key)
	if !ok {
		return def
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		r.fail(where, "%s is not a string", v)
		return def
	}
	return s
}

func (r *cfgReader) bool(key string, def bool) bool {
	v, where, ok := r.get(key)
	if !ok {
		return def
	}
	var b bool
	if err := json.Unmarshal(v, &b); err != nil {
		r.fail(where, "%s is not true or false", v)
		return def
	}
	return b
}

// ParseConfig reads cfg.json data (name is used in errors). It returns the configuration and,
// for files neuronscope wrote, the sha256 of the weights file they were written with.
func ParseConfig(data []byte, name string) (Config, string, error) {
	r := &cfgReader{name: name}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&r.top); err != nil {
		return Config{}, "", fmt.Errorf("%s: not a JSON object: %v", name, err)
	}
	if dec.More() {
		return Config{}, "", fmt.Errorf("%s: trailing data after the JSON object", name)
	}
	if m, ok := r.top["metadata"]; ok && string(m) != "null" {
		if err := json.Unmarshal(m, &r.meta); err != nil {
			return Config{}, "", fmt.Errorf("%s: metadata: not a JSON object", name)
		}
	}
	var c Config
	arch := r.str("architecture", "")
	actFn := r.str("activation_fn_str", r.str("activation_fn", "relu"))
	if arch == "" { // SAELens < 6 defaulted to standard, or topk through activation_fn
		arch = "standard"
		if actFn == "topk" {
			arch = "topk"
		}
	}
	switch arch {
	case "standard", "topk", "jumprelu":
		c.Architecture = Arch(arch)
	default:
		return Config{}, "", fmt.Errorf("%s: architecture: %q is not supported (neuronscope runs standard, topk and jumprelu SAEs)", name, arch)
	}
	if arch == "standard" && actFn != "relu" {
		r.fail("activation_fn", "%q: a standard SAE must use relu here", actFn)
	}
	c.DIn = r.int("d_in", 0, true)
	c.DSAE = r.int("d_sae", 0, true)
	if c.Architecture == TopK {
		k := r.int("k", 0, false)
		if kw, ok := r.top["activation_fn_kwargs"]; ok && k == 0 {
			var m map[string]json.RawMessage
			if json.Unmarshal(kw, &m) == nil {
				sub := &cfgReader{name: name, top: m}
				k = sub.int("k", 0, false)
				if sub.err != nil {
					r.fail("activation_fn_kwargs.k", "%v", sub.err)
				}
			}
		}
		if k == 0 {
			r.fail("k", "missing for a topk SAE")
		}
		c.K = k
		c.RescaleActsByDecoderNorm = r.bool("rescale_acts_by_decoder_norm", false)
	}
	c.ApplyBDecToInput = r.bool("apply_b_dec_to_input", true)
	if v, where, ok := r.get("normalize_activations"); ok {
		var b bool
		var s string
		switch {
		case json.Unmarshal(v, &b) == nil: // SAELens < 6
			c.NormalizeActivations = map[bool]string{false: NormNone, true: NormExpectedAverage}[b]
		case json.Unmarshal(v, &s) == nil:
			c.NormalizeActivations = s
		default:
			r.fail(where, "%s is not a string", v)
		}
	} else {
		c.NormalizeActivations = NormNone
	}
	switch c.NormalizeActivations {
	case NormNone, NormExpectedAverage, NormConstant, NormLayer:
	default:
		r.fail("normalize_activations", "%q is not one of none, expected_average_only_in, constant_norm_rescale, layer_norm", c.NormalizeActivations)
	}
	c.DType = r.str("dtype", "float32")
	switch strings.TrimPrefix(c.DType, "torch.") {
	case "float32", "float16", "bfloat16", "float64":
		c.DType = strings.TrimPrefix(c.DType, "torch.")
	default:
		r.fail("dtype", "%q is not float32, float16, bfloat16 or float64", c.DType)
	}
	c.HookName = r.str("hook_name", r.str("hook_point", ""))
	c.ModelName = r.str("model_name", "")
	c.HookLayer = -1
	if p, err := hooks.Parse(c.HookName); err == nil && p.Site.PerLayer() {
		c.HookLayer = p.Layer
	}
	c.HookLayer = r.int("hook_layer", c.HookLayer, false)
	c.ContextSize = r.int("context_size", 0, false)
	c.PrependBOS = r.bool("prepend_bos", true)
	c.DatasetPath = r.str("dataset_path", "")
	if _, where, ok := r.get("hook_head_index"); ok {
		r.fail(where, "SAEs on one attention head are not supported")
	}
	if r.bool("finetuning_scaling_factor", false) {
		r.fail("finetuning_scaling_factor", "fine-tuning scaling factors are not supported")
	}
	switch rs := r.str("reshape_activations", "none"); rs {
	case "none":
	case "hook_z":
		if !strings.HasSuffix(c.HookName, "attn.hook_z") {
			r.fail("reshape_activations", "hook_z reshaping on hook %q", c.HookName)
		}
	default:
		r.fail("reshape_activations", "%q is not none or hook_z", rs)
	}
	hash := r.str("neuronscope_weights_sha256", "")
	if r.err != nil {
		return Config{}, "", r.err
	}
	if c.DIn < 1 || c.DSAE < 1 {
		return Config{}, "", fmt.Errorf("%s: d_in %d and d_sae %d must be positive", name, c.DIn, c.DSAE)
	}
	if c.Architecture == TopK && (c.K < 1 || c.K > c.DSAE) {
		return Config{}, "", fmt.Errorf("%s: k: %d is not in 1..d_sae (%d)", name, c.K, c.DSAE)
	}
	return c, hash, nil
}

// readWeights reads sae_weights.safetensors for cfg, checking every tensor's shape.
func readWeights(path string, c Config) (*SAE, error) {
	f, err := safetensors.OpenFile(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	want := map[string][]int{"W_enc": {c.DIn, c.DSAE}, "b_enc": {c.DSAE}, "W_dec": {c.DSAE, c.DIn}, "b_dec": {c.DIn}}
	if c.Architecture == JumpReLU {
		want["threshold"] = []int{c.DSAE}
	}
	s := &SAE{Config: c}
	dst := map[string]*[]float32{"W_enc": &s.WEnc, "b_enc": &s.BEnc, "W_dec": &s.WDec, "b_dec": &s.BDec, "threshold": &s.Threshold}
	names := f.Names()
	sort.Strings(names)
	for _, nm := range names {
		t, _ := f.Tensor(nm)
		shape, ok := want[nm]
		switch {
		case nm == "log_threshold" && c.Architecture == JumpReLU:
			if _, both := f.Tensor("threshold"); both {
				return nil, fmt.Errorf("%s: both threshold and log_threshold", path)
			}
			shape, ok = []int{c.DSAE}, true
		case nm == "scaling_factor":
			v, err := t.Float32s()
			if err != nil {
				return nil, fmt.Errorf("%s: scaling_factor: %v", path, err)
			}
			for _, x := range v {
				if x != 1 {
					return nil, fmt.Errorf("%s: scaling_factor is not all ones: fine-tuning scaling factors are not supported", path)
				}
			}
			continue
		case !ok:
			return nil, fmt.Errorf("%s: tensor %q is not a weight of a %s SAE (want %s)", path, nm, c.Architecture, strings.Join(slices.Sorted(maps.Keys(want)), ", "))
		}
		if !t.DType.IsFloat() {
			return nil, fmt.Errorf("%s: tensor %s is %s, not a float tensor", path, nm, t.DType)
		}
		if !slices.Equal(t.Shape, shape) {
			return nil, fmt.Errorf("%s: tensor %s has shape %v, but %s says d_in %d, d_sae %d (want %v)", path, nm, t.Shape, CfgFile, c.DIn, c.DSAE, shape)
		}
		v, err := t.Float32s()
		if err != nil {
			return nil, fmt.Errorf("%s: tensor %s: %v", path, nm, err)
		}
		v = append([]float32(nil), v...) // own the memory: the file is closed on return
		if ok, at := finite(v); !ok {
			return nil, fmt.Errorf("%s: tensor %s has a non-finite value at index %d", path, nm, at)
		}
		if nm == "log_threshold" {
			for i, l := range v {
				v[i] = float32(math.Exp(float64(l)))
			}
			nm = "threshold"
		}
		*dst[nm] = v
	}
	for nm := range want {
		if *dst[nm] == nil {
			return nil, fmt.Errorf("%s: missing tensor %s of a %s SAE", path, nm, c.Architecture)
		}
	}
	return s, nil
}

// SaveOptions choose how Save writes an SAE.
type SaveOptions struct {
	// DType of the stored weights: "float32" (default), "float16" or "bfloat16".
	DType string
	// Extra metadata entries for cfg.json (e.g. the training configuration).
	Extra map[string]any
}

// Save writes the SAE to dir in SAELens's format (SAELens 6 layout, with the flat pre-6 keys
// too so older readers find the hook and model): sae_weights.safetensors then cfg.json, each
// atomically (temp file + rename). cfg.json records the weights' sha256, which Load checks,
// so a crash between the two renames is detected rather than silently mixing two saves.
func (s *SAE) Save(dir string, opt SaveOptions) error {
	if err := s.Validate(); err != nil {
		return err
	}
	dtype := opt.DType
	if dtype == "" {
		dtype = "float32"
	}
	mk := map[string]func(string, []int, []float32) safetensors.WriteTensor{
		"float32": safetensors.F32, "float16": safetensors.F16, "bfloat16": safetensors.BF16}[dtype]
	if mk == nil {
		return fmt.Errorf("sae: dtype %q: want float32, float16 or bfloat16", dtype)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	c := s.Config
	ts := []safetensors.WriteTensor{
		mk("W_enc", []int{c.DIn, c.DSAE}, s.WEnc), mk("b_enc", []int{c.DSAE}, s.BEnc),
		mk("W_dec", []int{c.DSAE, c.DIn}, s.WDec), mk("b_dec", []int{c.DIn}, s.BDec)}
	if c.Architecture == JumpReLU {
		ts = append(ts, mk("threshold", []int{c.DSAE}, s.Threshold))
	}
	wPath := filepath.Join(dir, WeightsFile)
	if err := safetensors.WriteFile(wPath, ts, nil); err != nil {
		return err
	}
	hash, err := fileSHA256(wPath)
	if err != nil {
		return err
	}
	var hook any
	if c.HookName != "" {
		hook = c.HookName
	}
	var model any
	if c.ModelName != "" {
		model = c.ModelName
	}
	meta := map[string]any{
		"sae_lens_version": saeLensFormatVersion, "sae_lens_training_version": saeLensFormatVersion,
		"model_name": model, "hook_name": hook, "hook_head_index": nil, "prepend_bos": c.PrependBOS,
		"context_size": nullIfZero(c.ContextSize), "dataset_path": nullIfEmpty(c.DatasetPath),
		"neuronscope_weights_sha256": hash, "neuronscope_version": report.Version,
	}
	for k, v := range opt.Extra {
		meta[k] = v
	}
	act := map[Arch]string{TopK: "topk", Standard: "relu", JumpReLU: "jumprelu"}[c.Architecture]
	cfg := map[string]any{
		"architecture": string(c.Architecture), "d_in": c.DIn, "d_sae": c.DSAE, "dtype": dtype, "device": "cpu",
		"apply_b_dec_to_input": c.ApplyBDecToInput, "normalize_activations": c.NormalizeActivations,
		"reshape_activations": "none", "metadata": meta,
		// Flat keys of SAELens < 6 (ignored by SAELens 6).
		"hook_name": hook, "hook_layer": c.HookLayer, "model_name": model, "hook_head_index": nil,
		"activation_fn_str": act, "finetuning_scaling_factor": false, "prepend_bos": c.PrependBOS,
		"context_size": nullIfZero(c.ContextSize), "dataset_path": nullIfEmpty(c.DatasetPath),
	}
	if strings.HasSuffix(c.HookName, "attn.hook_z") {
		cfg["reshape_activations"] = "hook_z"
	}
	if c.Architecture == TopK {
		cfg["k"] = c.K
		cfg["rescale_acts_by_decoder_norm"] = c.RescaleActsByDecoderNorm
		cfg["activation_fn_kwargs"] = map[string]any{"k": c.K}
	}
	return report.WriteJSONFile(filepath.Join(dir, CfgFile), cfg)
}

func nullIfZero(v int) any {
	if v == 0 {
		return nil
	}
	return v
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
