package tokenizer

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"
)

var proseWords = strings.Fields(`the of and to in a is that for it as was with be by on not he I this are
or his from at which but have an they you were her she there been one all we their has would when
what so if no out up more said could its into time them can only other new some these two may then
first any like now my such over also our made after well even most state people year years way
neuron layer attention residual stream model token transformer circuit feature sparse interpretability
Mechanistic analysis shows activation patching reveals structure. Paris London 1984 2024 42 3.14
don't it's we're they've I'm she'll he'd "quoted" (parenthetical) e.g., i.e., well-known state-of-the-art`)

// prose returns about n bytes of deterministic pseudo-English.
func prose(n int) string {
	r := rand.New(rand.NewSource(1))
	var sb strings.Builder
	sentence := 0
	for sb.Len() < n {
		w := proseWords[r.Intn(len(proseWords))]
		if sentence == 0 && len(w) > 0 {
			w = strings.ToUpper(w[:1]) + w[1:]
		}
		sb.WriteString(w)
		sentence++
		switch {
		case sentence > 8 && r.Intn(6) == 0:
			sb.WriteString(". ")
			sentence = 0
			if r.Intn(5) == 0 {
				sb.WriteString("\n\n")
			}
		case r.Intn(12) == 0:
			sb.WriteString(", ")
		default:
			sb.WriteByte(' ')
		}
	}
	return sb.String()
}

func BenchmarkEncodeGPT2Prose(b *testing.B) {
	tok := loadFixtureTokenizer(b, "gpt2")
	text := prose(1 << 20)
	b.SetBytes(int64(len(text)))
	b.ResetTimer()
	tokens := 0
	for i := 0; i < b.N; i++ {
		enc, err := tok.Encode(text, false)
		if err != nil {
			b.Fatal(err)
		}
		tokens += len(enc.IDs)
	}
	b.ReportMetric(float64(tokens)/b.Elapsed().Seconds(), "tokens/s")
}

// noSpaces is n characters of text without a single space (one pre-token for the llama
// tokenizer, which has no pre-tokenizer).
func noSpaces(n int) string {
	r := rand.New(rand.NewSource(2))
	const letters = "abcdefghijklmnopqrstuvwxyzetaoinshrdlu.,;"
	b := make([]byte, n)
	for i := range b {
		b[i] = letters[r.Intn(len(letters))]
	}
	return string(b)
}

func BenchmarkSentencePieceNoSpaces(b *testing.B) {
	for _, name := range []string{"llama-bytefallback", "phi-3-mini"} {
		tok := loadFixtureTokenizer(b, name)
		for _, n := range []int{10_000, 100_000} {
			text := noSpaces(n)
			b.Run(fmt.Sprintf("%s/%dk", name, n/1000), func(b *testing.B) {
				b.SetBytes(int64(n))
				for i := 0; i < b.N; i++ {
					if _, err := tok.Encode(text, false); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// TestSentencePieceMergeWorkSubquadratic counts heap operations of the BPE merge loop (not
// time) on 10k and 100k characters without spaces: linearithmic work grows ~10-12x, a
// quadratic algorithm ~100x.
func TestSentencePieceMergeWorkSubquadratic(t *testing.T) {
	// llama-bytefallback is the tiny (512 pieces) byte-fallback tokenizer; phi-3-mini has the
	// real Llama-2 vocab (32000 pieces, 61k merges), so far more merges happen.
	for _, name := range []string{"llama-bytefallback", "phi-3-mini"} {
		tok := loadFixtureTokenizer(t, name)
		m := tok.model.(*bpe)
		work := func(n int) int64 {
			before := m.mergeOps.Load()
			if _, err := tok.Encode(noSpaces(n), false); err != nil {
				t.Fatal(err)
			}
			return m.mergeOps.Load() - before
		}
		small, large := work(10_000), work(100_000)
		ratio := float64(large) / float64(small)
		t.Logf("%s merge heap pops: 10k chars %d, 100k chars %d (ratio %.1f)", name, small, large, ratio)
		if small < 1000 || ratio > 20 {
			t.Fatalf("%s: merge work grows %.1fx for 10x input (10k: %d, 100k: %d); want subquadratic (<20x)", name, ratio, small, large)
		}
	}
}
