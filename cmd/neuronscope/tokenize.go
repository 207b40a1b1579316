package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

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
first, never removes a BOS the post-processor added. --jsonl reads one JSON string per line
("-" for stdin; blank lines are skipped).`,
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
			if st, err := os.Stat(dir); err != nil || !st.IsDir() {
				return usagef("--model %s: not a directory", dir)
			}
			tok, err := tokenizer.Load(filepath.Join(dir, "tokenizer.json"))
			if err != nil {
				return err
			}
			out := bufio.NewWriter(cmd.OutOrStdout())
			defer out.Flush()
			enc := json.NewEncoder(out)
			enc.SetEscapeHTML(false)
			emit := func(s string) error {
				e, err := tok.Encode(s, special)
				if err != nil {
					return err
				}
				if e, err = tok.ApplyBOS(e, policy, -1); err != nil {
					return err
				}
				return enc.Encode(tokenizeRow{IDs: e.IDs, Tokens: e.Tokens, Offsets: e.Offsets})
			}
			if hasText {
				if err := emit(text); err != nil {
					return err
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
			if err := forEachJSONLString(in, jsonl, emit); err != nil {
				return err
			}
			return out.Flush()
		},
	}
	cmd.Flags().StringVar(&dir, "model", "", "checkpoint directory holding tokenizer.json")
	cmd.Flags().BoolVar(&special, "special", false, "add the post-processor's special tokens (HF add_special_tokens=true)")
	cmd.Flags().StringVar(&bos, "bos", "auto", "BOS policy: auto, always or never")
	cmd.Flags().StringVar(&text, "text", "", "text to tokenize")
	cmd.Flags().StringVar(&jsonl, "jsonl", "", `file with one JSON string per line ("-" for stdin)`)
	return cmd
}

type tokenizeRow struct {
	IDs     []int    `json:"ids"`
	Tokens  []string `json:"tokens"`
	Offsets [][2]int `json:"offsets"`
}

// forEachJSONLString calls fn with the string on every non-blank line of r; a line that is not
// a JSON string is an error naming the file and the line number.
func forEachJSONLString(r io.Reader, name string, fn func(string) error) error {
	br := bufio.NewReader(r)
	for lineNo := 1; ; lineNo++ {
		line, err := br.ReadBytes('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("--jsonl %s: line %d: %v", name, lineNo, err)
		}
		if t := bytes.TrimSpace(line); len(t) > 0 {
			var s string
			if jerr := json.Unmarshal(t, &s); jerr != nil {
				return usagef("--jsonl %s: line %d: not a JSON string: %v", name, lineNo, jerr)
			}
			if ferr := fn(s); ferr != nil {
				return fmt.Errorf("--jsonl %s: line %d: %w", name, lineNo, ferr)
			}
		}
		if err != nil { // io.EOF
			return nil
		}
	}
}
