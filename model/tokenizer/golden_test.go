package tokenizer

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/internal/fixtures"
)

// goldenTokenizers maps each golden file to the tokenizer.json it was produced from
// (relative to the shared fixtures directory).
var goldenTokenizers = map[string]string{
	"gpt2":               "tiny-gpt2-cicd/tokenizer.json",
	"llama-bytefallback": "aidreams260k-llama/tokenizer.json",
	"phi-2":              "tokenizers/phi-2/tokenizer.json",
	"phi-3-mini":         "tokenizers/phi-3-mini/tokenizer.json",
	"falcon":             "tokenizers/falcon/tokenizer.json",
	"t5-small":           "tokenizers/t5-small/tokenizer.json",
	"bert-base-uncased":  "tokenizers/bert-base-uncased/tokenizer.json",
}

type goldenEnc struct {
	IDs                []int    `json:"ids"`
	Tokens             []string `json:"tokens"`
	ByteOffsets        [][2]int `json:"byte_offsets"`
	SpecialMask        []int    `json:"special_mask"`
	Decoded            string   `json:"decoded"`
	DecodedSkipSpecial string   `json:"decoded_skip_special"`
}

type goldenCase struct {
	ID      string    `json:"id"`
	Text    string    `json:"text"`
	Plain   goldenEnc `json:"plain"`
	Special goldenEnc `json:"special"`
}

type goldenFile struct {
	Count int          `json:"count"`
	Cases []goldenCase `json:"cases"`
}

func fixturesDir(t testing.TB) string {
	t.Helper()
	return fixtures.Dir(t)
}

func loadFixtureTokenizer(t testing.TB, name string) *Tokenizer {
	t.Helper()
	dir := fixturesDir(t)
	tok, err := Load(filepath.Join(dir, goldenTokenizers[name]))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func readGolden(t testing.TB, name string) goldenFile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(fixturesDir(t), "tokenizer-goldens", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var g goldenFile
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatalf("%s.json: %v", name, err)
	}
	if len(g.Cases) == 0 || len(g.Cases) != g.Count {
		t.Fatalf("%s.json: %d cases, header says %d", name, len(g.Cases), g.Count)
	}
	return g
}

// compareEncoding returns a description of the first difference, or "".
func compareEncoding(got Encoding, want goldenEnc) string {
	if !reflect.DeepEqual(got.IDs, want.IDs) {
		return fmt.Sprintf("ids\n   got  %v %q\n   want %v %q", got.IDs, got.Tokens, want.IDs, want.Tokens)
	}
	if !reflect.DeepEqual(got.Tokens, want.Tokens) {
		return fmt.Sprintf("tokens\n   got  %q\n   want %q", got.Tokens, want.Tokens)
	}
	if !reflect.DeepEqual(got.Offsets, want.ByteOffsets) {
		return fmt.Sprintf("byte offsets\n   got  %v\n   want %v\n   tokens %q", got.Offsets, want.ByteOffsets, got.Tokens)
	}
	mask := make([]int, len(got.SpecialMask))
	for i, b := range got.SpecialMask {
		mask[i] = b2i(b)
	}
	if !reflect.DeepEqual(mask, want.SpecialMask) {
		return fmt.Sprintf("special mask\n   got  %v\n   want %v", mask, want.SpecialMask)
	}
	return ""
}

func TestGoldens(t *testing.T) {
	for _, name := range []string{"gpt2", "llama-bytefallback", "phi-2", "phi-3-mini", "falcon", "t5-small", "bert-base-uncased"} {
		t.Run(name, func(t *testing.T) {
			tok := loadFixtureTokenizer(t, name)
			g := readGolden(t, name)
			checks, pass := 0, 0
			var fails []string
			fail := func(format string, a ...any) {
				if len(fails) < 8 {
					fails = append(fails, fmt.Sprintf(format, a...))
				}
			}
			for _, c := range g.Cases {
				for _, mode := range []struct {
					special bool
					want    goldenEnc
				}{{false, c.Plain}, {true, c.Special}} {
					checks++
					got, err := tok.Encode(c.Text, mode.special)
					if err != nil {
						fail("%s special=%v: %v", c.ID, mode.special, err)
						continue
					}
					if d := compareEncoding(got, mode.want); d != "" {
						fail("%s special=%v text=%q: %s", c.ID, mode.special, truncText(c.Text), d)
						continue
					}
					ok := true
					for _, skip := range []bool{false, true} {
						want := mode.want.Decoded
						if skip {
							want = mode.want.DecodedSkipSpecial
						}
						dec, err := tok.Decode(mode.want.IDs, skip)
						if err != nil {
							fail("%s special=%v decode skip=%v: %v", c.ID, mode.special, skip, err)
							ok = false
						} else if dec != want {
							fail("%s special=%v decode skip=%v:\n   got  %q\n   want %q", c.ID, mode.special, skip, dec, want)
							ok = false
						}
					}
					if ok {
						pass++
					}
				}
			}
			t.Logf("%s: %d/%d encodings (x2 decodes) match", name, pass, checks)
			if pass != checks {
				t.Errorf("%s: %d/%d match; first mismatches:\n%s", name, pass, checks, strings.Join(fails, "\n"))
			}
		})
	}
}

func truncText(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

func TestPretokenizerRegexGoldens(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(fixturesDir(t), "tokenizer-goldens", "pretokenizer-regex.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Patterns map[string]string `json:"patterns"`
		Cases    []struct {
			ID     string                       `json:"id"`
			Text   string                       `json:"text"`
			Splits map[string][]json.RawMessage `json:"splits"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Patterns) != 4 || len(g.Cases) == 0 {
		t.Fatalf("pretokenizer-regex.json: %d patterns, %d cases", len(g.Patterns), len(g.Cases))
	}
	for _, name := range []string{"gpt2", "llama3", "qwen2", "o200k"} {
		src, ok := g.Patterns[name]
		if !ok {
			t.Fatalf("pattern %s missing", name)
		}
		t.Run(name, func(t *testing.T) {
			raw, _ := json.Marshal(map[string]any{"type": "Split", "pattern": map[string]string{"Regex": src}, "behavior": "Isolated", "invert": false})
			pre, err := parsePreTokenizer(raw)
			if err != nil {
				t.Fatal(err)
			}
			pass := 0
			var fails []string
			for _, c := range g.Cases {
				var want [][3]any
				for _, r := range c.Splits[name] {
					var v []any
					if err := json.Unmarshal(r, &v); err != nil || len(v) != 3 {
						t.Fatalf("%s: bad split %s", c.ID, r)
					}
					want = append(want, [3]any{v[0].(string), int(v[1].(float64)), int(v[2].(float64))})
				}
				pt := &preTokenized{splits: []pretokSplit{{n: newNormString(c.Text)}}}
				if err := pre.preTokenize(pt); err != nil {
					t.Fatal(err)
				}
				var got [][3]any
				for _, s := range pt.splits {
					a, b := s.n.offsetsOriginal()
					got = append(got, [3]any{s.n.normalized, charIndex(c.Text, a), charIndex(c.Text, b)})
				}
				if reflect.DeepEqual(got, want) {
					pass++
				} else if len(fails) < 5 {
					fails = append(fails, fmt.Sprintf("%s %q:\n   got  %v\n   want %v", c.ID, truncText(c.Text), got, want))
				}
			}
			t.Logf("%s: %d/%d cases match", name, pass, len(g.Cases))
			if pass != len(g.Cases) {
				t.Errorf("%s: %d/%d match; first mismatches:\n%s", name, pass, len(g.Cases), strings.Join(fails, "\n"))
			}
		})
	}
}

// charIndex converts a byte offset of s into a code point offset.
func charIndex(s string, b int) int {
	return len([]rune(s[:b]))
}
