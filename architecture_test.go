package eventfold_test

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// The query layer and the replicas read what the fold stored through
// package table and know entity types through package entity; they never
// depend on the fold engine (docs/architecture.md).
func TestViewAndInteractiveDoNotDependOnTheProcessor(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "./view", "./interactive").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasSuffix(pkg, "/eventfold/processor") {
			t.Errorf("view or interactive depends on %s", pkg)
		}
	}
}

// README's layout section lists every top-level folder, and only folders
// that exist.
func TestReadmeLayoutMatchesTheTree(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	sec := string(readme)
	i := strings.Index(sec, "## Layout")
	if i < 0 {
		t.Fatal("README has no Layout section")
	}
	sec = sec[i:]
	sec = sec[strings.Index(sec, "```")+3:]
	sec = sec[:strings.Index(sec, "```")]
	listed := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^([a-z][a-z0-9/]*)/ `).FindAllStringSubmatch(sec, -1) {
		listed[m[1]] = true
		if _, err := os.Stat(m[1]); err != nil {
			t.Errorf("README lists %s/, which does not exist", m[1])
		}
	}
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || strings.HasPrefix(name, ".") {
			continue
		}
		if !listed[name] && !listedUnder(listed, name) {
			t.Errorf("folder %s/ is not in README's layout", name)
		}
	}
}

func listedUnder(listed map[string]bool, dir string) bool {
	for l := range listed {
		if strings.HasPrefix(l, dir+"/") {
			return true
		}
	}
	return false
}
