package tokenizer

import (
	"math/rand"
	"reflect"
	"strings"
	"testing"

	"github.com/dlclark/regexp2"
)

// randomText mixes the character classes the GPT-2 regex cares about.
func randomText(r *rand.Rand, n int) string {
	pieces := []string{"a", "Z", "é", "ß", "中", "😀", "1", "٣", "½", " ", " ", "  ", "\t", "\n", "\r\n",
		"\u00a0", "\u3000", "\u2028", "'", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'x", ".", ",",
		"!", "-", "\u0301", "\u200d", "\x00", "\x7f", "\ufeff", "<|endoftext|>", "ĠĊ"}
	var sb strings.Builder
	for i := 0; i < n; i++ {
		sb.WriteString(pieces[r.Intn(len(pieces))])
	}
	return sb.String()
}

// slowGPT2 runs the GPT-2 pattern through the general regex engine.
func slowGPT2(t *testing.T, s string) []segment {
	re, err := regexp2.Compile(gpt2Pattern, regexp2.Multiline)
	if err != nil {
		t.Fatal(err)
	}
	p := &regexPattern{src: "(?:" + gpt2Pattern + ")", re: re} // different src: no fast path
	segs, err := p.findMatches(s)
	if err != nil {
		t.Fatal(err)
	}
	return segs
}

func TestGPT2ScannerMatchesRegex(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	inputs := []string{"", " ", "  ", "a  b", "\t\ta", "  \ta", "x \n", "'s's", "''s", " 's", "a'LL", "'ll'l"}
	for i := 0; i < 3000; i++ {
		inputs = append(inputs, randomText(r, 1+r.Intn(12)))
	}
	for _, s := range inputs {
		if s == "" {
			continue
		}
		fast, slow := gpt2Segments(s), slowGPT2(t, s)
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q:\n fast %v\n slow %v", s, fast, slow)
		}
	}
}

func TestByteLevelTransformMatchesGeneric(t *testing.T) {
	r := rand.New(rand.NewSource(4))
	for i := 0; i < 500; i++ {
		s := randomText(r, 1+r.Intn(10))
		base := newNormString(s)
		// also exercise pieces with shifted and non-trivial alignments
		if err := base.replace(literalPattern(" "), "\u2581"); err != nil {
			t.Fatal(err)
		}
		base.prepend("\u2581")
		parts, err := base.splitBy(gpt2Regex, splitIsolated)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range append(parts, base) {
			a := *p
			b := *p
			a.byteLevelTransform()
			b.transform(byteLevelChanges(b.normalized), 0)
			if a.normalized != b.normalized || !reflect.DeepEqual(a.align, b.align) {
				t.Fatalf("%q: fast %q %v, generic %q %v", p.normalized, a.normalized, a.align, b.normalized, b.align)
			}
		}
	}
}

// The one-pass replace must give what HF's per-match transform_range gives.
func TestReplaceMatchesTransformRange(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	for i := 0; i < 500; i++ {
		s := randomText(r, 1+r.Intn(10))
		for _, c := range []struct{ pat, content string }{{" ", "\u2581"}, {"'s", ""}, {"é", "e\u0301x"}, {"  ", "_"}} {
			a := newNormString(s)
			a.prepend("\u2581")
			b := *a
			if err := a.replace(literalPattern(c.pat), c.content); err != nil {
				t.Fatal(err)
			}
			// reference: HF's loop of transform_range calls
			segs, _ := literalPattern(c.pat).findMatches(b.normalized)
			offset := 0
			for _, m := range segs {
				if !m.match {
					continue
				}
				start, end := m.start+offset, m.end+offset
				var dest []change
				for _, ch := range c.content {
					dest = append(dest, change{ch, 1})
				}
				b.transformRange(start, end, dest, len([]rune(b.normalized[start:end])))
				offset += len(c.content) - (m.end - m.start)
			}
			if a.normalized != b.normalized || !reflect.DeepEqual(a.align, b.align) {
				t.Fatalf("%q replace %q: one-pass %q %v, reference %q %v", s, c.pat, a.normalized, a.align, b.normalized, b.align)
			}
		}
	}
}
