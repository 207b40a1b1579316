// Package jsonerr restates encoding/json's decoding errors in the terms of the JSON the user
// wrote: a field, the kind of value found and the kind wanted, never a Go type name. Every
// reader of user-written JSON (datasets, prompt sets, fact files, neuron sets, reports) passes
// its decoding errors through Plain.
//
//	json: cannot unmarshal number into Go struct field KnowledgeFact.prompts of type []string
//
// becomes
//
//	field "prompts": got a number, want an array of strings
package jsonerr

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// Plain returns err restated without Go type names when it is a *json.UnmarshalTypeError or a
// *json.SyntaxError (call it on the error encoding/json returned, before wrapping it), and err
// itself otherwise (nil stays nil). The result unwraps to the original error.
func Plain(err error) error {
	te, isType := err.(*json.UnmarshalTypeError)
	se, isSyntax := err.(*json.SyntaxError)
	switch {
	case isType:
		got := te.Value
		if v, ok := strings.CutPrefix(got, "number "); ok {
			got = "the number " + v
		} else {
			got = article(got)
		}
		msg := fmt.Sprintf("got %s, want %s", got, Want(te.Type))
		if te.Field != "" {
			// the last key of the path: the path may hold an embedded Go struct's name
			field := te.Field[strings.LastIndex(te.Field, ".")+1:]
			msg = fmt.Sprintf("field %q: %s", field, msg)
		}
		return &plain{msg, err}
	case isSyntax:
		return &plain{fmt.Sprintf("invalid JSON at byte %d: %s", se.Offset, se.Error()), err}
	}
	return err
}

type plain struct {
	msg string
	err error
}

func (p *plain) Error() string { return p.msg }
func (p *plain) Unwrap() error { return p.err }

// Want names the JSON a Go type decodes from: "a string", "an integer", "an array of
// strings", "an object", ...
func Want(t reflect.Type) string {
	if t == nil {
		return "a value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "an array of " + plural(Want(t.Elem()))
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "a value"
}

// article puts "a"/"an" before a JSON kind as encoding/json names it ("string", "number",
// "bool", "array", "object").
func article(kind string) string {
	switch kind {
	case "bool":
		return "true or false"
	case "array", "object":
		return "an " + kind
	case "":
		return "a value"
	}
	return "a " + kind
}

// plural turns "a string" into "strings", "an array of integers" into "arrays of integers".
func plural(s string) string {
	switch s {
	case "true or false":
		return "booleans"
	case "a value":
		return "values"
	}
	s = strings.TrimPrefix(strings.TrimPrefix(s, "an "), "a ")
	head, rest, _ := strings.Cut(s, " ")
	if rest != "" {
		return head + "s " + rest
	}
	return head + "s"
}
