package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/tokenizer"
	"github.com/spf13/cobra"
)

// newTokenizeCmd is `neuronscope tokenize`: run a checkpoint's tokenizer.json over text and
// print ids, tokens and byte offsets as JSON lines.
func newTokenizeCmd() *cobra.Command {
	var dir, text, jsonl, bos string
	var special bool
	cmd := &cobra.Command{
		Use:   "tokenize --model DIR [--special] [--bos auto|always|never] (--text STR | --jsonl FILE)",
		Short: "Tokenize text with a checkpoint's tokenizer.json; prints one JSON line per text",
		Long: `Tokenize text exactly as Hugging Face tokenizers does with DIR/tokenizer.json.

Each text gives one JSON line {"ids":[...],"tokens":[...],"offsets":[[start,end],...]}, offsets
being UTF-8 byte offsets into the text (special tokens added by the post-processor have [0,0]).
--special adds the post-processor's special tokens (HF add_special_tokens=true); --bos then
adjusts the beginning of sequence: auto keeps what that gives, always makes sure the BOS id comes
first, never removes a BOS the post-processor added.

--jsonl reads the prompt lines every command takes ("-" for stdin; blank lines are skipped): a
JSON string, {"text": ...}, {"ids"|"input_ids": [...]} or an array of token ids. Token ids are
printed back with their tokens (no offsets).`,
		Example: `  neuronscope tokenize --model testdata/world-llama --text "Rofa bilo kan"
  neuronscope tokenize --model testdata/world-llama --special --jsonl prompts.jsonl
  echo '"Mara kra"' | neuronscope tokenize --model testdata/world-llama --jsonl -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return usagef("--model is required")
			}
			hasText, hasJSONL := cmd.Flags().Changed("text"), cmd.Flags().Changed("jsonl")
			if hasText == hasJSONL {
				return usagef("give exactly one of --text or --jsonl")
			}
			policy, err := tokenizer.ParseBOSPolicy(bos)
			if err != nil {
				return usageError{err}
			}
			if hasJSONL && jsonl != "-" && !strings.HasSuffix(jsonl, ".jsonl") {
				return usagef("--jsonl %s: must end in .jsonl (or be - for stdin)", jsonl)
			}
			if st, err := os.Stat(dir); err != nil || !st.IsDir() {
				return usagef("--model %s: not a directory", dir)
			}
			tok, err := loadTokenizerDir(dir)
			if err != nil {
				return err
			}
			out := bufio.NewWriter(cmd.OutOrStdout())
			defer out.Flush()
			enc := json.NewEncoder(out)
			enc.SetEscapeHTML(false)
			emit := func(d corpus.Document) error {
				if d.HasIDs {
					row := tokenizeRow{IDs: d.IDs, Tokens: make([]string, len(d.IDs))}
					for i, id := range d.IDs {
						s, ok := tok.IDToToken(id)
						if !ok {
							return fmt.Errorf("token id %d is outside the tokenizer's vocabulary [0, %d)", id, tok.VocabSize())
						}
						row.Tokens[i] = s
					}
					return enc.Encode(row)
				}
				e, err := tok.Encode(d.Text, special)
				if err != nil {
					return err
				}
				if e, err = tok.ApplyBOS(e, policy, -1); err != nil {
					return err
				}
				return enc.Encode(tokenizeRow{IDs: e.IDs, Tokens: e.Tokens, Offsets: e.Offsets})
			}
			if hasText {
				if err := emit(corpus.Document{Text: text}); err != nil {
					return usagef("--text: %v", err)
				}
				return out.Flush()
			}
			var in io.Reader
			if jsonl == "-" {
				in = cmd.InOrStdin()
			} else {
				f, err := os.Open(jsonl)
				if err != nil {
					return usagef("--jsonl: %v", err)
				}
				defer f.Close()
				in = f
			}
			err = corpus.ParseDocuments(in, jsonl, true, func(d corpus.Document) error {
				if err := emit(d); err != nil {
					return &corpus.InputError{Path: d.Source, Line: d.Line, Err: err}
				}
				return nil
			})
			if err != nil {
				return usagef("--jsonl: %v", err)
			}
			return out.Flush()
		},
	}
	cmd.Flags().StringVar(&dir, "model", "", "checkpoint directory holding tokenizer.json")
	cmd.Flags().BoolVar(&special, "special", false, "add the post-processor's special tokens (HF add_special_tokens=true)")
	cmd.Flags().StringVar(&bos, "bos", "auto", "BOS policy: auto, always or never")
	cmd.Flags().StringVar(&text, "text", "", "text to tokenize")
	cmd.Flags().StringVar(&jsonl, "jsonl", "", `file of prompts, one per line: a JSON string, {"text": ...}, {"ids"|"input_ids": [...]} or an array of ids ("-" for stdin)`)
	return cmd
}

type tokenizeRow struct {
	IDs     []int    `json:"ids"`
	Tokens  []string `json:"tokens"`
	Offsets [][2]int `json:"offsets,omitempty"`
}
