package main

import (
	"context"
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"
)

// The README's `eventfold history orders order-42 --version 2` and
// `eventfold cmd … --idempotency-key …` printed a usage error: flag stops at
// the first positional argument. parse takes flags anywhere among them.
func TestParseTakesFlagsAnywhere(t *testing.T) {
	type got struct {
		URL     string
		IfMatch int64
		All     bool
		Args    []string
	}
	def := got{URL: "http://localhost:8080", IfMatch: -1}
	with := func(f func(*got)) got {
		g := def
		f(&g)
		return g
	}
	for _, tc := range []struct {
		name string
		args []string
		want got
		err  string // a part of the error, "" for none
	}{
		{"none", nil, with(func(g *got) {}), ""},
		{"only positionals", []string{"orders", "o-1"}, with(func(g *got) { g.Args = []string{"orders", "o-1"} }), ""},
		{"before", []string{"--url", "http://x", "orders", "o-1"}, with(func(g *got) { g.URL = "http://x"; g.Args = []string{"orders", "o-1"} }), ""},
		{"between", []string{"orders", "--if-match", "3", "o-1"}, with(func(g *got) { g.IfMatch = 3; g.Args = []string{"orders", "o-1"} }), ""},
		{"after", []string{"orders", "o-1", "{}", "--if-match", "2", "--url", "http://x"},
			with(func(g *got) { g.IfMatch = 2; g.URL = "http://x"; g.Args = []string{"orders", "o-1", "{}"} }), ""},
		{"everywhere", []string{"-url", "http://x", "orders", "--all", "o-1", "-if-match=4"},
			with(func(g *got) { g.URL = "http://x"; g.All = true; g.IfMatch = 4; g.Args = []string{"orders", "o-1"} }), ""},
		{"one dash and =value", []string{"orders", "-url=http://y", "o-1"}, with(func(g *got) { g.URL = "http://y"; g.Args = []string{"orders", "o-1"} }), ""},
		{"two dashes and =value", []string{"orders", "o-1", "--url=http://y"}, with(func(g *got) { g.URL = "http://y"; g.Args = []string{"orders", "o-1"} }), ""},
		{"a bool takes no value", []string{"orders", "--all", "o-1"}, with(func(g *got) { g.All = true; g.Args = []string{"orders", "o-1"} }), ""},
		{"a bool with =value", []string{"--all=true", "orders", "--all=false", "o-1"}, with(func(g *got) { g.Args = []string{"orders", "o-1"} }), ""},
		{"a value that looks like a flag", []string{"orders", "--url", "-x", "o-1"}, with(func(g *got) { g.URL = "-x"; g.Args = []string{"orders", "o-1"} }), ""},
		{"-- ends the flags", []string{"orders", "--", "--url", "-1"}, with(func(g *got) { g.Args = []string{"orders", "--url", "-1"} }), ""},
		{"flags before --", []string{"--all", "orders", "--", "-o"}, with(func(g *got) { g.All = true; g.Args = []string{"orders", "-o"} }), ""},
		{"a second -- is positional", []string{"--", "a", "--"}, with(func(g *got) { g.Args = []string{"a", "--"} }), ""},
		{"- alone is positional", []string{"orders", "-", "--all"}, with(func(g *got) { g.All = true; g.Args = []string{"orders", "-"} }), ""},
		{"the last of a repeated flag wins", []string{"--if-match", "1", "o", "--if-match", "5"}, with(func(g *got) { g.IfMatch = 5; g.Args = []string{"o"} }), ""},
		{"unknown flag", []string{"orders", "--nope", "o-1"}, got{}, "flag provided but not defined: -nope"},
		{"unknown flag after positionals", []string{"orders", "o-1", "-x=1"}, got{}, "flag provided but not defined: -x"},
		{"missing value", []string{"orders", "o-1", "--url"}, got{}, "flag needs an argument: -url"},
		{"bad value", []string{"orders", "--if-match", "three"}, got{}, `invalid value "three" for flag -if-match`},
		{"bad bool value", []string{"--all=maybe", "orders"}, got{}, `invalid boolean value "maybe" for -all`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("cmd", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			var c clientFlags
			c.register(fs)
			ifMatch := fs.Int64("if-match", -1, "")
			all := fs.Bool("all", false, "")
			err := parse(fs, tc.args)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("parse(%q) = %v, want an error with %q", tc.args, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parse(%q): %v", tc.args, err)
			}
			g := got{URL: c.url, IfMatch: *ifMatch, All: *all, Args: fs.Args()}
			if len(g.Args) == 0 {
				g.Args = nil
			}
			if !reflect.DeepEqual(g, tc.want) {
				t.Errorf("parse(%q) = %+v, want %+v", tc.args, g, tc.want)
			}
		})
	}
}

// The environment still gives defaults, and a flag anywhere beats it.
func TestParseEnvironmentWithInterleavedFlags(t *testing.T) {
	t.Setenv("EVENTFOLD_URL", "http://env")
	t.Setenv("EVENTFOLD_VERSION", "7")
	fs := flag.NewFlagSet("history", flag.ContinueOnError)
	var c clientFlags
	c.register(fs)
	version := fs.Uint64("version", 0, "")
	if err := parse(fs, []string{"orders", "order-42", "--version", "2"}); err != nil {
		t.Fatal(err)
	}
	if c.url != "http://env" || *version != 2 || !reflect.DeepEqual(fs.Args(), []string{"orders", "order-42"}) {
		t.Errorf("url %q, version %d, args %q", c.url, *version, fs.Args())
	}
}

// Every subcommand parses this way; the ones without positional arguments
// refuse them instead of ignoring the flags after them.
func TestSubcommandsTakeFlagsAfterArguments(t *testing.T) {
	ctx := context.Background()
	// Flags after the positionals reach the command: an unknown one is
	// reported (before, it was silently a positional and the arity check
	// failed), and a wrong positional count is still a usage error.
	for _, args := range [][]string{
		{"get", "orders", "o-1", "--nope"},
		{"emit", "orders", "o-1", "{}", "--nope"},
		{"cmd", "orders", "o-1", "{}", "--if-match", "1", "--nope"},
		{"history", "orders", "o-1", "--version", "2", "--nope"},
		{"topics", "--create", "--nope"},
		{"serve", "--nope"},
		{"dev", "--nope"},
	} {
		if err := run(ctx, args); err == nil || !strings.Contains(err.Error(), "flag provided but not defined: -nope") {
			t.Errorf("run(%q) = %v, want the unknown flag reported", args, err)
		}
	}
	for _, args := range [][]string{
		{"serve", "extra", "--http", ":0"},
		{"dev", "--http", ":0", "extra"},
		{"topics", "extra", "--create"},
	} {
		if err := run(ctx, args); err == nil || !strings.Contains(err.Error(), `takes no arguments, got "extra"`) {
			t.Errorf("run(%q) = %v, want a refused argument", args, err)
		}
	}
	if err := run(ctx, []string{"history", "orders", "--version", "2"}); err == nil || !strings.Contains(err.Error(), "usage:") {
		t.Errorf("history with one positional = %v, want the usage", err)
	}
}
