// Command mutate runs the mutants of mutate/mutants.txt against the tests
// that should kill them and prints which survived (make mutate).
//
// A mutant is a deliberate bug: in one file, a snippet of the code that must
// occur exactly once is replaced. Snippets rather than line numbers keep a
// mutant valid while the code around it changes; when a snippet no longer
// matches, mutate stops before running anything and names the mutant, so the
// list is kept current with the code.
//
// Each mutant is applied in a private copy of the tree (never in the
// working tree), its tests run with -failfast and a timeout, and the copy
// is restored. A mutant is killed when the tests fail (or time out), and
// survives when they pass. A mutant that does not compile is reported as
// invalid and counts as neither. docs/testing.md explains the score.
//
// Usage:
//
//	go run ./mutate [-j 1] [-run regexp] [-timeout 3m] [-baseline=true] [-list] [-check]
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// Mutant is one deliberate bug.
type Mutant struct {
	Name     string
	Area     string   // fold, commit, storage, routing
	File     string   // relative to the repository root
	Packages []string // test packages, e.g. ./processor/
	Run      string   // -run pattern (groups expanded)
	Why      string
	Original string
	Mutated  string
	Line     int // of the mutant's header in the list, for messages
}

// Result is what running one mutant's tests gave.
type Result struct {
	Mutant   *Mutant
	Status   string // killed, survived, timeout, invalid
	Duration time.Duration
	Detail   string // first failing test, or the build error
}

func main() {
	var (
		list     = flag.String("list", "mutate/mutants.txt", "the mutants file, relative to the repository root")
		jobs     = flag.Int("j", 1, "mutants run at once (each in its own copy of the tree)")
		only     = flag.String("run", "", "run only mutants whose name matches this regexp")
		timeout  = flag.Duration("timeout", 3*time.Minute, "go test -timeout per mutant (the whole run of its tests)")
		baseline = flag.Bool("baseline", true, "first run every package's tests unmutated; stop if they fail")
		check    = flag.Bool("check", false, "only check that every snippet still matches exactly once")
		show     = flag.Bool("names", false, "print the mutants and exit")
	)
	flag.Parse()
	root, err := repoRoot()
	if err != nil {
		fatal(err)
	}
	path := *list
	if !filepath.IsAbs(path) {
		path = filepath.Join(root, path)
	}
	ms, err := parseFile(path)
	if err != nil {
		fatal(err)
	}
	if err := validate(root, ms); err != nil {
		fatal(err)
	}
	if *only != "" {
		re, err := regexp.Compile(*only)
		if err != nil {
			fatal(err)
		}
		var keep []*Mutant
		for _, m := range ms {
			if re.MatchString(m.Name) {
				keep = append(keep, m)
			}
		}
		ms = keep
	}
	if *show {
		for _, m := range ms {
			fmt.Printf("%-40s %-8s %-32s %s -run '%s'\n", m.Name, m.Area, m.File, strings.Join(m.Packages, " "), m.Run)
		}
		return
	}
	if *check {
		fmt.Printf("%d mutants, every snippet matches exactly once\n", len(ms))
		return
	}
	if len(ms) == 0 {
		fatal(errors.New("no mutants selected"))
	}
	*jobs = max(1, min(*jobs, len(ms)))

	start := time.Now()
	tmp, err := os.MkdirTemp("", "eventfold-mutate-")
	if err != nil {
		fatal(err)
	}
	defer os.RemoveAll(tmp)
	copies := make([]string, *jobs)
	for i := range copies {
		copies[i] = filepath.Join(tmp, fmt.Sprintf("tree%d", i))
		if err := copyTree(root, copies[i]); err != nil {
			fatal(err)
		}
	}
	fmt.Printf("mutate: %d mutants, %d at a time, copies under %s\n", len(ms), *jobs, tmp)

	if *baseline {
		if err := runBaseline(copies[0], ms, *timeout); err != nil {
			fatal(err)
		}
	}

	results := make([]*Result, len(ms))
	next := make(chan int)
	var wg sync.WaitGroup
	var printMu sync.Mutex
	for w := 0; w < *jobs; w++ {
		wg.Add(1)
		go func(dir string) {
			defer wg.Done()
			for i := range next {
				r := runMutant(dir, ms[i], *timeout)
				results[i] = r
				printMu.Lock()
				fmt.Printf("  %-40s %-8s %6.1fs  %s\n", r.Mutant.Name, r.Status, r.Duration.Seconds(), r.Detail)
				printMu.Unlock()
			}
		}(copies[w])
	}
	for i := range ms {
		next <- i
	}
	close(next)
	wg.Wait()
	report(os.Stdout, results, time.Since(start))
	for _, r := range results {
		if r.Status == "invalid" {
			os.RemoveAll(tmp) // os.Exit skips the deferred removal
			os.Exit(2)
		}
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "mutate:", err)
	os.Exit(2)
}

func repoRoot() (string, error) {
	out, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		return "", fmt.Errorf("not in a git repository: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// parseFile reads the mutants list; see the comment at its top.
func parseFile(path string) ([]*Mutant, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parse(string(b))
}

func parse(text string) ([]*Mutant, error) {
	groups := map[string]string{}
	var (
		ms    []*Mutant
		cur   *Mutant
		mode  string // "", "original", "mutated"
		block []string
	)
	lines := strings.Split(text, "\n")
	end := func(ln int) error {
		if cur == nil {
			return nil
		}
		if mode != "mutated" {
			return fmt.Errorf("line %d: mutant %s: want '--- original', '+++ mutant' and '===' in that order", ln, cur.Name)
		}
		cur.Mutated = strings.Join(block, "\n")
		if cur.File == "" || len(cur.Packages) == 0 || cur.Run == "" || cur.Area == "" {
			return fmt.Errorf("line %d: mutant %s: needs area, file and test", cur.Line, cur.Name)
		}
		if cur.Original == "" || cur.Original == cur.Mutated {
			return fmt.Errorf("line %d: mutant %s: the mutant must change a non-empty snippet", cur.Line, cur.Name)
		}
		ms = append(ms, cur)
		cur, mode, block = nil, "", nil
		return nil
	}
	seen := map[string]bool{}
	for i, line := range lines {
		ln := i + 1
		switch {
		case mode == "original" && line != "+++ mutant":
			block = append(block, line)
			continue
		case mode == "mutated" && line != "===":
			block = append(block, line)
			continue
		}
		trimmed := strings.TrimSpace(line)
		switch {
		case line == "--- original":
			if cur == nil || mode != "" {
				return nil, fmt.Errorf("line %d: '--- original' outside a mutant", ln)
			}
			mode, block = "original", nil
		case line == "+++ mutant":
			if mode != "original" {
				return nil, fmt.Errorf("line %d: '+++ mutant' before '--- original'", ln)
			}
			cur.Original, mode, block = strings.Join(block, "\n"), "mutated", nil
		case line == "===":
			if err := end(ln); err != nil {
				return nil, err
			}
		case trimmed == "" || strings.HasPrefix(trimmed, "#"):
		case strings.HasPrefix(line, "group "):
			name, pattern, ok := strings.Cut(strings.TrimPrefix(line, "group "), "=")
			if !ok {
				return nil, fmt.Errorf("line %d: want 'group name = pattern'", ln)
			}
			groups[strings.TrimSpace(name)] = strings.TrimSpace(pattern)
		case strings.HasPrefix(line, "mutant "):
			if cur != nil {
				return nil, fmt.Errorf("line %d: mutant %s not closed with '==='", ln, cur.Name)
			}
			cur = &Mutant{Name: strings.TrimSpace(strings.TrimPrefix(line, "mutant ")), Line: ln}
			if seen[cur.Name] {
				return nil, fmt.Errorf("line %d: mutant %s defined twice", ln, cur.Name)
			}
			seen[cur.Name] = true
		default:
			if cur == nil {
				return nil, fmt.Errorf("line %d: %q outside a mutant", ln, line)
			}
			key, val, _ := strings.Cut(trimmed, " ")
			val = strings.TrimSpace(val)
			switch key {
			case "area":
				cur.Area = val
			case "file":
				cur.File = val
			case "why":
				cur.Why = strings.TrimSpace(cur.Why + " " + val)
			case "test":
				// test <packages...> <pattern>; @group names expand.
				f := strings.Fields(val)
				if len(f) < 2 {
					return nil, fmt.Errorf("line %d: want 'test ./pkg/ [./pkg2/] pattern'", ln)
				}
				cur.Packages = f[:len(f)-1]
				var parts []string
				for _, p := range strings.Split(f[len(f)-1], "|") {
					if g, ok := strings.CutPrefix(p, "@"); ok {
						pat, ok := groups[g]
						if !ok {
							return nil, fmt.Errorf("line %d: unknown group %s", ln, g)
						}
						p = pat
					}
					parts = append(parts, p)
				}
				cur.Run = strings.Join(parts, "|")
				if _, err := regexp.Compile(cur.Run); err != nil {
					return nil, fmt.Errorf("line %d: -run pattern: %v", ln, err)
				}
			default:
				return nil, fmt.Errorf("line %d: unknown field %q", ln, key)
			}
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("mutant %s (line %d) not closed with '==='", cur.Name, cur.Line)
	}
	return ms, nil
}

// validate checks every snippet against the working tree: each must occur
// exactly once in its file. All stale mutants are named at once.
func validate(root string, ms []*Mutant) error {
	var bad []string
	for _, m := range ms {
		b, err := os.ReadFile(filepath.Join(root, m.File))
		if err != nil {
			bad = append(bad, fmt.Sprintf("  %s (line %d): %v", m.Name, m.Line, err))
			continue
		}
		if n := strings.Count(string(b), m.Original); n != 1 {
			bad = append(bad, fmt.Sprintf("  %s (line %d): its snippet occurs %d times in %s, want exactly once", m.Name, m.Line, n, m.File))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("stale mutants (update mutate/mutants.txt to the code):\n%s", strings.Join(bad, "\n"))
	}
	return nil
}

// copyTree copies the files git knows of (tracked and untracked, not
// ignored) from root to dst.
func copyTree(root, dst string) error {
	out, err := exec.Command("git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		return fmt.Errorf("git ls-files: %w", err)
	}
	for _, rel := range strings.Split(string(out), "\x00") {
		if rel == "" {
			continue
		}
		src := filepath.Join(root, rel)
		st, err := os.Lstat(src)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // deleted in the working tree
			}
			return err
		}
		if !st.Mode().IsRegular() {
			continue
		}
		if err := os.MkdirAll(filepath.Join(dst, filepath.Dir(rel)), 0o755); err != nil {
			return err
		}
		if err := copyFile(src, filepath.Join(dst, rel), st.Mode()); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode.Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// runBaseline runs, per package, the union of the mutants' tests on the
// unmutated copy: a test that fails without a mutant would count as a kill.
func runBaseline(dir string, ms []*Mutant, timeout time.Duration) error {
	pats := map[string]map[string]bool{}
	for _, m := range ms {
		for _, p := range m.Packages {
			if pats[p] == nil {
				pats[p] = map[string]bool{}
			}
			for _, t := range strings.Split(m.Run, "|") {
				pats[p][t] = true
			}
		}
	}
	var pkgs []string
	for p := range pats {
		pkgs = append(pkgs, p)
	}
	sort.Strings(pkgs)
	for _, p := range pkgs {
		var ts []string
		for t := range pats[p] {
			ts = append(ts, t)
		}
		sort.Strings(ts)
		start := time.Now()
		status, detail := goTest(dir, []string{p}, strings.Join(ts, "|"), 2*timeout)
		fmt.Printf("baseline %-22s %s in %.0fs\n", p, status, time.Since(start).Seconds())
		if status != "passed" {
			return fmt.Errorf("the tests fail without any mutant (%s): %s", p, detail)
		}
	}
	return nil
}

func runMutant(dir string, m *Mutant, timeout time.Duration) *Result {
	r := &Result{Mutant: m}
	path := filepath.Join(dir, m.File)
	orig, err := os.ReadFile(path)
	if err != nil {
		r.Status, r.Detail = "invalid", err.Error()
		return r
	}
	mutated := strings.Replace(string(orig), m.Original, m.Mutated, 1)
	if err := os.WriteFile(path, []byte(mutated), 0o644); err != nil {
		r.Status, r.Detail = "invalid", err.Error()
		return r
	}
	defer func() {
		if err := os.WriteFile(path, orig, 0o644); err != nil {
			fatal(fmt.Errorf("restoring %s in %s: %w", m.File, dir, err))
		}
	}()
	start := time.Now()
	status, detail := goTest(dir, m.Packages, m.Run, timeout)
	r.Duration = time.Since(start)
	switch status {
	case "passed":
		r.Status = "survived"
	case "failed":
		r.Status = "killed"
	default:
		r.Status = status
	}
	r.Detail = detail
	return r
}

var (
	failLine  = regexp.MustCompile(`(?m)^\s*--- FAIL: (\S+)`)
	panicLine = regexp.MustCompile(`(?m)^panic: (.*)$`)
	// go test's summary of a package whose test binary failed.
	pkgFailLine = regexp.MustCompile(`(?m)^FAIL\t\S+\t`)
)

// goTest runs the tests and classifies the outcome: passed, failed,
// timeout, or invalid (build failed, or no test matched the pattern).
func goTest(dir string, pkgs []string, run string, timeout time.Duration) (string, string) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout+2*time.Minute) // + build time
	defer cancel()
	args := append([]string{"test", "-count=1", "-failfast", "-timeout", timeout.String(), "-run", run, "-v"}, pkgs...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	text := out.String()
	switch {
	case err == nil:
		if strings.Contains(text, "no tests to run") {
			return "invalid", "no test matches -run " + run
		}
		return "passed", ""
	case ctx.Err() != nil || strings.Contains(text, "panic: test timed out"):
		return "timeout", "tests did not finish within " + timeout.String()
	case strings.Contains(text, "[build failed]") || strings.Contains(text, "[setup failed]"):
		return "invalid", "build failed: " + firstLines(text, 3)
	}
	var failed []string
	for _, m := range failLine.FindAllStringSubmatch(text, -1) {
		failed = append(failed, m[1])
	}
	if len(failed) > 0 {
		return "failed", shorten(strings.Join(failed, ", "), 90)
	}
	if m := panicLine.FindStringSubmatch(text); m != nil {
		return "failed", shorten("panic: "+m[1], 90)
	}
	if strings.Contains(text, "fatal error:") || pkgFailLine.MatchString(text) {
		return "failed", shorten(firstLines(text, 1), 90) // the test binary died
	}
	// No test ran and failed: go test itself refused (a bad flag in the
	// mutant's test line, a package that is not there).
	return "invalid", "go test: " + firstLines(text, 2)
}

func firstLines(s string, n int) string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() && len(out) < n {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "===") {
			out = append(out, l)
		}
	}
	return strings.Join(out, " | ")
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// report prints the table, the score per area and overall, and the
// survivors with what the list says about them.
func report(w io.Writer, rs []*Result, took time.Duration) {
	fmt.Fprintf(w, "\n%-40s %-8s %-40s %-9s %7s\n", "MUTANT", "AREA", "FILE", "RESULT", "TIME")
	type tally struct{ killed, survived, invalid int }
	areas := map[string]*tally{}
	var total tally
	for _, r := range rs {
		fmt.Fprintf(w, "%-40s %-8s %-40s %-9s %6.1fs\n", r.Mutant.Name, r.Mutant.Area, r.Mutant.File, r.Status, r.Duration.Seconds())
		a := areas[r.Mutant.Area]
		if a == nil {
			a = &tally{}
			areas[r.Mutant.Area] = a
		}
		for _, t := range []*tally{a, &total} {
			switch r.Status {
			case "killed", "timeout":
				t.killed++
			case "survived":
				t.survived++
			default:
				t.invalid++
			}
		}
	}
	var names []string
	for a := range areas {
		names = append(names, a)
	}
	sort.Strings(names)
	fmt.Fprintln(w)
	for _, a := range append(names, "total") {
		t := &total
		if a != "total" {
			t = areas[a]
		}
		score := 0.0
		if n := t.killed + t.survived; n > 0 {
			score = 100 * float64(t.killed) / float64(n)
		}
		fmt.Fprintf(w, "%-8s killed %3d  survived %3d  invalid %2d  score %5.1f%%\n", a, t.killed, t.survived, t.invalid, score)
	}
	fmt.Fprintf(w, "time %v\n", took.Round(time.Second))
	var surv []*Result
	for _, r := range rs {
		if r.Status == "survived" || r.Status == "invalid" {
			surv = append(surv, r)
		}
	}
	if len(surv) > 0 {
		fmt.Fprintln(w, "\nsurvivors and invalid mutants:")
		for _, r := range surv {
			fmt.Fprintf(w, "  %s (%s, %s): %s %s\n", r.Mutant.Name, r.Status, r.Mutant.File, r.Mutant.Why, r.Detail)
		}
	}
}
