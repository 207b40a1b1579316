package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/neuronscope/neuronscope/model/report"
	"github.com/spf13/cobra"
)

// commands lists neuronscope's own commands (not cobra's help and completion), parents first.
func commands(c *cobra.Command) []*cobra.Command {
	var out []*cobra.Command
	for _, sub := range c.Commands() {
		if sub.Name() == "help" || sub.Name() == "completion" {
			continue
		}
		out = append(out, sub)
		out = append(out, commands(sub)...)
	}
	return out
}

// shellWords splits a command line as a shell would for the simple quoting examples use.
func shellWords(s string) []string {
	var out []string
	var cur strings.Builder
	in, quote := false, rune(0)
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '"' || r == '\'':
			quote, in = r, true
		case r == ' ':
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if in {
		out = append(out, cur.String())
	}
	return out
}

// TestHelpTexts: every command's help has an Examples section whose command lines parse (the
// command exists, every flag exists and takes its value), and its short and long texts start
// with a capital letter.
func TestHelpTexts(t *testing.T) {
	for _, c := range commands(newRoot()) {
		name := c.CommandPath()
		if strings.TrimSpace(c.Example) == "" {
			t.Errorf("%s: no Examples section", name)
		}
		for what, text := range map[string]string{"short": c.Short, "long": c.Long} {
			if r, _ := utf8.DecodeRuneInString(text); text != "" && unicode.IsLetter(r) && !unicode.IsUpper(r) {
				t.Errorf("%s: %s help starts with %q", name, what, r)
			}
		}
		if c.Short == "" {
			t.Errorf("%s: no short help", name)
		}
		for _, line := range strings.Split(c.Example, "\n") {
			i := strings.Index(line, "neuronscope ")
			if i < 0 || strings.HasPrefix(strings.TrimSpace(line), "#") {
				continue
			}
			args := shellWords(line[i+len("neuronscope "):])
			root := newRoot()
			cmd, rest, err := root.Find(args)
			if cmd == root && err == nil && len(args) == 1 && args[0] == "--version" {
				continue
			}
			if err != nil || cmd == root {
				t.Errorf("%s: example %q names no command (%v)", name, line, err)
				continue
			}
			if err := cmd.ParseFlags(rest); err != nil {
				t.Errorf("%s: example %q: %v", name, line, err)
				continue
			}
			if n := len(cmd.Flags().Args()); n > 0 && cmd.Args != nil {
				if err := cmd.ValidateArgs(cmd.Flags().Args()); err != nil {
					t.Errorf("%s: example %q: %v", name, line, err)
				}
			}
		}
	}
}

// TestVersionFlag: --version prints what the version command prints.
func TestVersionFlag(t *testing.T) {
	flag, _, err := run("--version")
	if err != nil {
		t.Fatal(err)
	}
	cmd, _, err := run("version")
	if err != nil || !strings.HasPrefix(cmd, flag) || !strings.Contains(flag, "neuronscope "+report.Version) {
		t.Errorf("--version %q, version %q (%v)", flag, cmd, err)
	}
}

// TestREADMECommands: the README's command list names every command, and every flag it shows
// for a command exists on that command.
func TestREADMECommands(t *testing.T) {
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	i := strings.Index(text, "## Using it\n\n```sh\n")
	if i < 0 {
		t.Fatal("README has no '## Using it' command list")
	}
	block := text[i+len("## Using it\n\n```sh\n"):]
	block = block[:strings.Index(block, "```")]
	block = strings.ReplaceAll(block, "\\\n", " ")
	flagRE := regexp.MustCompile(`(?:^|[\s\[(|])--([a-z][a-z0-9-]*)`)
	seen := map[string]bool{}
	for _, line := range strings.Split(block, "\n") {
		if !strings.HasPrefix(line, "neuronscope ") {
			continue
		}
		if k := strings.Index(line, "  # "); k >= 0 {
			line = line[:k]
		}
		var path []string
		for _, w := range strings.Fields(line)[1:] {
			if strings.ContainsAny(w[:1], "-[(") {
				break
			}
			path = append(path, w)
		}
		cmd, _, err := newRoot().Find(path)
		if err != nil || cmd.Name() != path[len(path)-1] {
			t.Errorf("README line %q: no command %v (%v)", line, path, err)
			continue
		}
		seen[cmd.CommandPath()] = true
		for _, m := range flagRE.FindAllStringSubmatch(line, -1) {
			if cmd.Flags().Lookup(m[1]) == nil && cmd.InheritedFlags().Lookup(m[1]) == nil {
				t.Errorf("README line for %s shows --%s, which it does not have", cmd.CommandPath(), m[1])
			}
		}
	}
	for _, c := range commands(newRoot()) {
		if !c.Hidden && !c.HasSubCommands() && !seen[c.CommandPath()] {
			t.Errorf("the README's command list lacks %s", c.CommandPath())
		}
	}
}
