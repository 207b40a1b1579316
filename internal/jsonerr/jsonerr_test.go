package jsonerr

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

type entry struct {
	Layer *int `json:"layer"`
}

type embedding struct {
	entry
	Value float64 `json:"value"`
}

func TestPlain(t *testing.T) {
	type fact struct {
		Prompts []string `json:"prompts"`
		Target  string   `json:"target"`
		N       uint     `json:"n"`
		Sub     struct {
			X []float64 `json:"x"`
		} `json:"sub"`
	}
	var ids []int
	cases := []struct {
		data string
		into any
		want string
	}{
		{`{"prompts":3}`, &fact{}, `field "prompts": got a number, want an array of strings`},
		{`{"prompts":["a",true]}`, &fact{}, `field "prompts": got true or false, want a string`},
		{`{"target":{}}`, &fact{}, `field "target": got an object, want a string`},
		{`{"n":-1}`, &fact{}, `field "n": got the number -1, want a non-negative integer`},
		{`{"sub":{"x":"s"}}`, &fact{}, `field "x": got a string, want an array of numbers`},
		{`{"layer":"x"}`, &embedding{}, `field "layer": got a string, want an integer`},
		{`[1,"a"]`, &ids, `got a string, want an integer`},
		{`[1.5]`, &ids, `got the number 1.5, want an integer`},
		{`{"prompts":`, &fact{}, `invalid JSON at byte 11: unexpected end of JSON input`},
		{`{"prompts" 1}`, &fact{}, `invalid JSON at byte 12: invalid character '1' after object key`},
	}
	for _, c := range cases {
		err := Plain(json.Unmarshal([]byte(c.data), c.into))
		if err == nil || err.Error() != c.want {
			t.Errorf("%s: %v, want %q", c.data, err, c.want)
		}
		if err != nil && (strings.Contains(err.Error(), "Go ") || strings.Contains(err.Error(), "fact") || strings.Contains(err.Error(), "entry")) {
			t.Errorf("%s: %q names Go types", c.data, err)
		}
	}
	if Plain(nil) != nil {
		t.Error("Plain(nil) != nil")
	}
	if got := Plain(json.Unmarshal([]byte(`"x"`), &ids)).Error(); got != "got a string, want an array of integers" {
		t.Errorf("top level: %q", got)
	}
	wrapped := fmt.Errorf("line 3: %w", json.Unmarshal([]byte(`"x"`), &ids))
	if Plain(wrapped) != wrapped {
		t.Error("a wrapped error was rewritten, losing its context")
	}
}
