package tokenizer_test

import (
	"fmt"

	"github.com/neuronscope/neuronscope/model/tokenizer"
)

// A BERT-style tokenizer.json small enough to write inline.
const tinyBERT = `{
  "version": "1.0", "truncation": null, "padding": null,
  "added_tokens": [
    {"id": 0, "content": "[CLS]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
    {"id": 1, "content": "[SEP]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
    {"id": 2, "content": "[UNK]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}
  ],
  "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": null, "lowercase": true},
  "pre_tokenizer": {"type": "BertPreTokenizer"},
  "post_processor": {"type": "TemplateProcessing",
    "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
    "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
    "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [0], "tokens": ["[CLS]"]}, "[SEP]": {"id": "[SEP]", "ids": [1], "tokens": ["[SEP]"]}}},
  "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
  "model": {"unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 100,
    "vocab": {"[CLS]": 0, "[SEP]": 1, "[UNK]": 2, "hello": 3, "neur": 4, "##on": 5, "##s": 6, ",": 7, "!": 8, "cafe": 9}}
}`

func Example() {
	tok, err := tokenizer.Parse([]byte(tinyBERT), "tiny-bert.json")
	if err != nil {
		fmt.Println(err)
		return
	}
	text := "Hello, Neurons! Café"
	enc, err := tok.Encode(text, true)
	if err != nil {
		fmt.Println(err)
		return
	}
	for i, id := range enc.IDs {
		o := enc.Offsets[i]
		fmt.Printf("%d %-6s %q\n", id, enc.Tokens[i], text[o[0]:o[1]])
	}
	s, _ := tok.Decode(enc.IDs, true)
	fmt.Println(s)
	bos, _ := tok.BOS()
	fmt.Println("BOS:", bos)
	// Output:
	// 0 [CLS]  ""
	// 3 hello  "Hello"
	// 7 ,      ","
	// 4 neur   "Neur"
	// 5 ##on   "on"
	// 6 ##s    "s"
	// 8 !      "!"
	// 9 cafe   "Café"
	// 1 [SEP]  ""
	// hello, neurons! cafe
	// BOS: 0
}
