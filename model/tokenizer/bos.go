package tokenizer

import "fmt"

// BOSPolicy makes the beginning-of-sequence choice explicit. BOSAuto is HF behaviour
// (whatever add_special_tokens=true gives), BOSAlways makes sure the first id is the BOS id
// (prepending it if missing), BOSNever strips a leading BOS added by the post-processor.
type BOSPolicy int

const (
	BOSAuto BOSPolicy = iota
	BOSAlways
	BOSNever
)

// ParseBOSPolicy parses "auto", "always" or "never" (the --bos flag).
func ParseBOSPolicy(s string) (BOSPolicy, error) {
	switch s {
	case "auto":
		return BOSAuto, nil
	case "always":
		return BOSAlways, nil
	case "never":
		return BOSNever, nil
	}
	return BOSAuto, fmt.Errorf("--bos %q: want auto, always or never", s)
}

func (p BOSPolicy) String() string {
	switch p {
	case BOSAuto:
		return "auto"
	case BOSAlways:
		return "always"
	case BOSNever:
		return "never"
	}
	return fmt.Sprintf("BOSPolicy(%d)", int(p))
}

// EncodeWithBOS encodes text with add_special_tokens=true and then applies the policy (see
// ApplyBOS). bosID < 0 means t.BOS().
func (t *Tokenizer) EncodeWithBOS(text string, p BOSPolicy, bosID int) (Encoding, error) {
	if err := t.checkPolicy(p); err != nil {
		return Encoding{}, err
	}
	enc, err := t.Encode(text, true)
	if err != nil {
		return enc, err
	}
	return t.ApplyBOS(enc, p, bosID)
}

func (t *Tokenizer) checkPolicy(p BOSPolicy) error {
	switch p {
	case BOSAuto, BOSAlways, BOSNever:
		return nil
	}
	return fmt.Errorf("tokenizer %s: unknown BOS policy %d", t.name, int(p))
}

// ApplyBOS applies a BOS policy to an encoding: BOSAuto leaves it alone, BOSAlways prepends
// the BOS id unless the first id already is it, BOSNever removes a first token that is the BOS
// id and was added by the post-processor (a literal "<s>" typed in the text stays). bosID < 0
// means t.BOS(); BOSAlways with no known BOS is an error.
func (t *Tokenizer) ApplyBOS(enc Encoding, p BOSPolicy, bosID int) (Encoding, error) {
	if err := t.checkPolicy(p); err != nil {
		return Encoding{}, err
	}
	if p == BOSAuto {
		return enc, nil
	}
	id, known := bosID, bosID >= 0
	if !known {
		id, known = t.BOS()
	}
	switch p {
	case BOSAlways:
		if !known {
			return Encoding{}, fmt.Errorf("tokenizer %s: --bos always: the tokenizer adds no BOS token and no BOS id was given", t.name)
		}
		if len(enc.IDs) > 0 && enc.IDs[0] == id {
			return enc, nil
		}
		tok, ok := t.IDToToken(id)
		if !ok {
			return Encoding{}, fmt.Errorf("tokenizer %s: BOS id %d is out of the vocabulary", t.name, id)
		}
		enc.IDs = append([]int{id}, enc.IDs...)
		enc.Tokens = append([]string{tok}, enc.Tokens...)
		enc.Offsets = append([][2]int{{0, 0}}, enc.Offsets...)
		enc.SpecialMask = append([]bool{true}, enc.SpecialMask...)
	case BOSNever:
		if known && len(enc.IDs) > 0 && enc.IDs[0] == id && enc.SpecialMask[0] {
			enc.IDs, enc.Tokens, enc.Offsets, enc.SpecialMask = enc.IDs[1:], enc.Tokens[1:], enc.Offsets[1:], enc.SpecialMask[1:]
		}
	}
	return enc, nil
}
