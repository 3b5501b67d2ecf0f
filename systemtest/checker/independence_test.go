package checker

import (
	"os/exec"
	"strings"
	"testing"
)

// The checker must share no code with what it checks: no package of the
// eventfold module but itself, in the build or in its tests.
func TestImportsNothingFromEventfold(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-test", "-f", "{{.ImportPath}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	self, err := exec.Command("go", "list", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	me := strings.TrimSpace(string(self))
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps listed only %v", deps)
	}
	var sawKgo bool
	for _, d := range deps {
		// The package itself appears as me, "me [me.test]" (split by
		// Fields into two) and me.test.
		p := strings.Trim(d, "[]")
		if p == me || p == me+".test" {
			continue
		}
		if p == "github.com/eventfold/eventfold" || strings.HasPrefix(p, "github.com/eventfold/eventfold/") {
			t.Errorf("the checker depends on %s", p)
		}
		for _, banned := range []string{"github.com/IBM/sarama", "github.com/lovoo/goka"} {
			if strings.HasPrefix(p, banned) {
				t.Errorf("the checker depends on %s", p)
			}
		}
		sawKgo = sawKgo || p == "github.com/twmb/franz-go/pkg/kgo"
	}
	if !sawKgo {
		t.Errorf("franz-go's kgo is not among the dependencies: is the list right? %v", deps)
	}
}
