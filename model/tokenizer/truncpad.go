package tokenizer

import (
	"encoding/json"
	"fmt"
)

// truncation is tokenizer.json's "truncation" (single sequences only).
type truncation struct {
	maxLength int
	strategy  string
	left      bool
}

func parseTruncation(raw json.RawMessage) (*truncation, error) {
	if isNull(raw) {
		return nil, nil
	}
	var v struct {
		MaxLength *int   `json:"max_length"`
		Strategy  string `json:"strategy"`
		Direction string `json:"direction"`
		Stride    int    `json:"stride"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("truncation: %v", err)
	}
	if v.MaxLength == nil || *v.MaxLength < 0 {
		return nil, fmt.Errorf("truncation: want a non-negative max_length")
	}
	t := &truncation{maxLength: *v.MaxLength, strategy: v.Strategy}
	switch v.Strategy {
	case "", "LongestFirst", "OnlyFirst", "OnlySecond":
	default:
		return nil, fmt.Errorf("truncation: unknown strategy %q", v.Strategy)
	}
	switch v.Direction {
	case "", "Right":
	case "Left":
		t.left = true
	default:
		return nil, fmt.Errorf("truncation: unknown direction %q", v.Direction)
	}
	return t, nil
}

// apply is HF truncate_encodings for one sequence; nAdded tokens are reserved for the
// post-processor when it will add special tokens.
func (t *truncation) apply(e *encoding, nAdded int) error {
	maxLen := t.maxLength
	if nAdded > 0 {
		maxLen -= nAdded
		if maxLen < 0 {
			return fmt.Errorf("truncation: max_length %d is smaller than the %d special tokens added", t.maxLength, nAdded)
		}
	}
	if len(e.ids) <= maxLen {
		return nil
	}
	if t.strategy == "OnlySecond" {
		return fmt.Errorf("truncation: strategy OnlySecond needs a second sequence")
	}
	keep := func(lo, hi int) {
		e.ids, e.tokens, e.offsets, e.special = e.ids[lo:hi], e.tokens[lo:hi], e.offsets[lo:hi], e.special[lo:hi]
	}
	if t.left {
		keep(len(e.ids)-maxLen, len(e.ids))
	} else {
		keep(0, maxLen)
	}
	return nil
}

// maxPadLength bounds the padding lengths a tokenizer.json may ask for (a typo there should
// not make every Encode allocate gigabytes).
const maxPadLength = 1 << 24

// padding is tokenizer.json's "padding".
type padding struct {
	fixed    int // 0: BatchLongest (no-op for one sequence)
	multiple int
	left     bool
	padID    int
	padToken string
}

func parsePadding(raw json.RawMessage) (*padding, error) {
	if isNull(raw) {
		return nil, nil
	}
	var v struct {
		Strategy  json.RawMessage `json:"strategy"`
		Direction string          `json:"direction"`
		Multiple  *int            `json:"pad_to_multiple_of"`
		PadID     int             `json:"pad_id"`
		PadTypeID int             `json:"pad_type_id"`
		PadToken  string          `json:"pad_token"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("padding: %v", err)
	}
	p := &padding{padID: v.PadID, padToken: v.PadToken}
	var s string
	if err := json.Unmarshal(v.Strategy, &s); err == nil {
		if s != "BatchLongest" {
			return nil, fmt.Errorf("padding: unknown strategy %q", s)
		}
	} else {
		var f struct {
			Fixed *int `json:"Fixed"`
		}
		if err := json.Unmarshal(v.Strategy, &f); err != nil || f.Fixed == nil || *f.Fixed < 0 {
			return nil, fmt.Errorf("padding: strategy must be \"BatchLongest\" or {\"Fixed\": n}")
		}
		if *f.Fixed > maxPadLength {
			return nil, fmt.Errorf("padding: Fixed length %d is implausibly large", *f.Fixed)
		}
		p.fixed = *f.Fixed
	}
	switch v.Direction {
	case "", "Right":
	case "Left":
		p.left = true
	default:
		return nil, fmt.Errorf("padding: unknown direction %q", v.Direction)
	}
	if v.Multiple != nil {
		if *v.Multiple < 0 || *v.Multiple > maxPadLength {
			return nil, fmt.Errorf("padding: pad_to_multiple_of %d is out of range", *v.Multiple)
		}
		p.multiple = *v.Multiple
	}
	return p, nil
}

func (p *padding) apply(e *encoding) {
	target := len(e.ids)
	if p.fixed > 0 {
		target = p.fixed
	}
	if p.multiple > 0 && target%p.multiple != 0 {
		target += p.multiple - target%p.multiple
	}
	n := target - len(e.ids)
	if n <= 0 {
		return
	}
	pad := &encoding{}
	for i := 0; i < n; i++ {
		pad.ids = append(pad.ids, p.padID)
		pad.tokens = append(pad.tokens, p.padToken)
		pad.offsets = append(pad.offsets, [2]int{0, 0})
		pad.special = append(pad.special, true)
	}
	if p.left {
		pad.append(e)
		e.ids, e.tokens, e.offsets, e.special = pad.ids, pad.tokens, pad.offsets, pad.special
	} else {
		e.append(pad)
	}
}
