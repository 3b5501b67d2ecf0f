package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const sample = `# a comment
group g = TestA|TestB

mutant one
area   fold
file   f.go
test   ./p/ @g|TestC
why    first line
why    second line
--- original
	x := 1
+++ mutant
	x := 2
===
`

func TestParse(t *testing.T) {
	ms, err := parse(sample)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 {
		t.Fatalf("%d mutants", len(ms))
	}
	m := ms[0]
	if m.Name != "one" || m.Area != "fold" || m.File != "f.go" || m.Run != "TestA|TestB|TestC" ||
		strings.Join(m.Packages, ",") != "./p/" || m.Original != "\tx := 1" || m.Mutated != "\tx := 2" ||
		m.Why != "first line second line" {
		t.Fatalf("parsed %+v", m)
	}
	for name, bad := range map[string]string{
		"unclosed":      strings.TrimSuffix(sample, "===\n"),
		"no change":     strings.Replace(sample, "x := 2", "x := 1", 1),
		"unknown group": strings.Replace(sample, "@g", "@h", 1),
		"no test":       strings.Replace(sample, "test   ./p/ @g|TestC\n", "", 1),
		"unknown field": strings.Replace(sample, "why    first line", "wy first line", 1),
		"duplicate":     sample + strings.SplitN(sample, "\n\n", 2)[1],
	} {
		if _, err := parse(bad); err == nil {
			t.Errorf("%s: parsed without error", name)
		}
	}
}

// A snippet that no longer occurs exactly once stops the run and is named.
func TestValidateNamesStaleMutants(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "f.go"), []byte("package f\n\tx := 1\n\ty := 1\n\ty := 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ms := []*Mutant{
		{Name: "ok", File: "f.go", Original: "\tx := 1"},
		{Name: "twice", File: "f.go", Original: "\ty := 1"},
		{Name: "gone", File: "f.go", Original: "\tz := 1"},
		{Name: "nofile", File: "g.go", Original: "x"},
	}
	err := validate(root, ms)
	if err == nil {
		t.Fatal("no error for stale mutants")
	}
	for _, name := range []string{"twice", "gone", "nofile"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
	if strings.Contains(err.Error(), "  ok ") {
		t.Errorf("error names a valid mutant: %v", err)
	}
	if err := validate(root, ms[:1]); err != nil {
		t.Errorf("valid mutant: %v", err)
	}
}
