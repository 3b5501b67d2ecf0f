package deploy_test

// Static checks of the deployment files. Nothing here needs Docker or a
// Kubernetes cluster: the files are parsed and checked against each other
// and against the code (the binary's flags, the API's routes, the metrics a
// running node exports). The files are not run here; docs/production.md
// says so too.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"
)

// skipDirs are under deploy/ but not ours to check.
var skipDirs = []string{"kafka-local"}

// The routes of interactive/server.go the probes may use.
const (
	readyPath  = "/readyz"
	healthPath = "/healthz"
)

// readYAML decodes every document of a YAML file. Duplicate keys are an
// error (yaml.v3 reports them).
func readYAML(t *testing.T, path string) []map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var docs []map[string]any
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
	if len(docs) == 0 {
		t.Fatalf("%s: no YAML document", path)
	}
	return docs
}

func readYAML1(t *testing.T, path string) map[string]any {
	t.Helper()
	docs := readYAML(t, path)
	if len(docs) != 1 {
		t.Fatalf("%s: %d documents, want 1", path, len(docs))
	}
	return docs[0]
}

// Navigation in decoded YAML/JSON.

func m(v any) map[string]any {
	out, _ := v.(map[string]any)
	return out
}

func l(v any) []any {
	out, _ := v.([]any)
	return out
}

func s(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	default:
		return fmt.Sprint(x)
	}
}

// at walks keys through nested maps.
func at(v any, keys ...string) any {
	for _, k := range keys {
		v = m(v)[k]
	}
	return v
}

func strList(v any) []string {
	var out []string
	for _, x := range l(v) {
		out = append(out, s(x))
	}
	return out
}

// sortedKeys returns the keys of a map in order.
func sortedKeys[V any](mp map[string]V) []string {
	out := make([]string, 0, len(mp))
	for k := range mp {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestFilesParse(t *testing.T) {
	var n int
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && slices.Contains(skipDirs, path) {
			return filepath.SkipDir
		}
		switch filepath.Ext(path) {
		case ".yml", ".yaml":
			readYAML(t, path)
			n++
		case ".json":
			raw, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			var v any
			if err := json.Unmarshal(raw, &v); err != nil {
				t.Errorf("%s: %v", path, err)
			}
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Errorf("parsed only %d YAML/JSON files under deploy/", n)
	}
}

// ---- the binary: built as the Dockerfile builds it ----

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// binaries builds ./cmd/eventfold and ./deploy/healthcheck with
// CGO_ENABLED=0, as deploy/Dockerfile does, once per test run.
func binaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "eventfold-deploy-test-")
		if buildErr != nil {
			return
		}
		for _, pkg := range []string{"./cmd/eventfold", "./deploy/healthcheck"} {
			cmd := exec.Command("go", "build", "-trimpath", "-o", buildDir+"/", pkg)
			cmd.Dir = ".."
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("CGO_ENABLED=0 go build %s: %v\n%s", pkg, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

var flagLineRE = regexp.MustCompile(`^\s+-([a-z0-9][a-z0-9-]*)`)

// serveFlags runs `eventfold serve -h` with env (and nothing else from the
// test's environment) and returns the flag names it lists, and the
// EVENTFOLD_* variables its help names that are no flag's. The binary
// applies EVENTFOLD_* variables before it parses -h, so a value it cannot
// parse (EVENTFOLD_REPLICATION=three) fails here.
func serveFlags(t *testing.T, env map[string]string) (flags, envOnly []string) {
	t.Helper()
	bin := filepath.Join(binaries(t), "eventfold")
	cmd := exec.Command(bin, "serve", "-h")
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	for _, k := range sortedKeys(env) {
		cmd.Env = append(cmd.Env, k+"="+env[k])
	}
	out, _ := cmd.CombinedOutput() // -h exits non-zero
	text := string(out)
	if strings.Contains(text, "eventfold: EVENTFOLD_") {
		t.Errorf("eventfold serve rejects the environment: %s", strings.TrimSpace(text))
		return serveFlags(t, nil)
	}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		if mm := flagLineRE.FindStringSubmatch(sc.Text()); mm != nil {
			flags = append(flags, mm[1])
		}
	}
	if !slices.Contains(flags, "brokers") || !slices.Contains(flags, "advertise") {
		t.Fatalf("cannot read the flags of eventfold serve -h:\n%s", text)
	}
	for _, v := range envVarRE.FindAllString(text, -1) {
		if _, isFlag := envFlag(v); isFlag && !slices.Contains(envOnly, v) && !strings.HasSuffix(v, "_") {
			envOnly = append(envOnly, v)
		}
	}
	return flags, envOnly
}

// envVarRE finds the variables serve -h names (EVENTFOLD_KAFKA_SASL_PASSWORD
// is one without a flag: a secret is never an argument).
var envVarRE = regexp.MustCompile(`\bEVENTFOLD_[A-Z0-9_]+`)

// envFlag maps EVENTFOLD_DATA_DIR to data-dir; ok is false for variables
// that are not EVENTFOLD_*.
func envFlag(name string) (string, bool) {
	rest, ok := strings.CutPrefix(name, "EVENTFOLD_")
	if !ok {
		return "", false
	}
	return strings.ToLower(strings.ReplaceAll(rest, "_", "-")), true
}

// checkServeConfig checks the command line and the environment a node is
// started with: every EVENTFOLD_* variable names a flag of serve (or is one
// serve -h names, like EVENTFOLD_KAFKA_SASL_PASSWORD) and has a value serve
// accepts; no variable is shadowed by a flag on the command
// line (flags win, so it would be silently ignored); every flag on the
// command line exists. It returns the command-line flags as a map.
func checkServeConfig(t *testing.T, where string, args []string, env map[string]string) map[string]string {
	t.Helper()
	if len(args) == 0 || args[0] != "serve" {
		t.Errorf("%s: command %q does not start with serve", where, args)
		return nil
	}
	valid, envOnly := serveFlags(t, env)
	cli := map[string]string{}
	for i := 1; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			t.Errorf("%s: unexpected argument %q", where, a)
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !hasVal && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			val = args[i+1]
			i++
		}
		if !slices.Contains(valid, name) {
			t.Errorf("%s: eventfold serve has no flag --%s", where, name)
		}
		cli[name] = val
	}
	for _, k := range sortedKeys(env) {
		f, ok := envFlag(k)
		if !ok {
			continue
		}
		if slices.Contains(envOnly, k) {
			continue // a variable serve reads itself, with no flag
		}
		if !slices.Contains(valid, f) {
			t.Errorf("%s: %s names no flag of eventfold serve (valid: %s)", where, k, strings.Join(valid, ", "))
		}
		if _, dup := cli[f]; dup {
			t.Errorf("%s: %s is ignored: the command line sets --%s, and flags win", where, k, f)
		}
	}
	return cli
}

// listenPort is the port of an --http listen address (":8080").
func listenPort(t *testing.T, where, addr string) int {
	t.Helper()
	_, p, ok := strings.Cut(addr, ":")
	port, err := strconv.Atoi(p)
	if !ok || err != nil {
		t.Fatalf("%s: --http %q has no port", where, addr)
	}
	return port
}

// hostPort splits an http URL.
func hostPort(t *testing.T, where, raw string) (string, int) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.Hostname() == "" || u.Port() == "" {
		t.Fatalf("%s: %q is not an http://host:port URL", where, raw)
	}
	p, _ := strconv.Atoi(u.Port())
	return u.Hostname(), p
}

// ---- Dockerfile ----

type dockerInstr struct {
	cmd  string // upper case
	args string
	line int
}

func readDockerfile(t *testing.T, path string) []dockerInstr {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []dockerInstr
	var cur strings.Builder
	start := 0
	for i, line := range strings.Split(string(raw), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		} else if strings.HasPrefix(trimmed, "#") {
			continue
		}
		if body, ok := strings.CutSuffix(trimmed, "\\"); ok {
			cur.WriteString(body + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, dockerInstr{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args), line: start})
		cur.Reset()
	}
	return out
}

func jsonArgs(t *testing.T, in dockerInstr) []string {
	t.Helper()
	var out []string
	if err := json.Unmarshal([]byte(in.args), &out); err != nil {
		t.Fatalf("Dockerfile:%d: %s must use the exec (JSON array) form: %v", in.line, in.cmd, err)
	}
	return out
}

// image is what the Dockerfile promises; the compose and Kubernetes checks
// compare against it.
type image struct {
	cmd     []string
	port    int
	dataDir string
	uid     int
}

func checkDockerfile(t *testing.T) image {
	t.Helper()
	ins := readDockerfile(t, "Dockerfile")
	var img image
	var froms []string
	var entrypoint []string
	var stage int
	for _, in := range ins {
		switch in.cmd {
		case "FROM":
			froms = append(froms, in.args)
			stage++
		case "RUN":
			for _, mm := range regexp.MustCompile(`go build [^&;]*?(\./[a-z/]+)`).FindAllStringSubmatch(in.args, -1) {
				if !strings.Contains(in.args, "CGO_ENABLED=0") {
					t.Errorf("Dockerfile:%d: go build without CGO_ENABLED=0 (the runtime image has no libc)", in.line)
				}
				if st, err := os.Stat(filepath.Join("..", mm[1])); err != nil || !st.IsDir() {
					t.Errorf("Dockerfile:%d: builds %s, which does not exist", in.line, mm[1])
				}
			}
		case "USER":
			if stage < 2 {
				continue
			}
			u, _, _ := strings.Cut(in.args, ":")
			uid, err := strconv.Atoi(u)
			if err != nil {
				t.Errorf("Dockerfile:%d: USER %q: want a numeric uid (runAsNonRoot needs one)", in.line, in.args)
			}
			img.uid = uid
		case "EXPOSE":
			img.port, _ = strconv.Atoi(strings.TrimSuffix(in.args, "/tcp"))
		case "VOLUME":
			img.dataDir = in.args
		case "ENTRYPOINT":
			entrypoint = jsonArgs(t, in)
		case "CMD":
			img.cmd = jsonArgs(t, in)
		case "HEALTHCHECK":
			_, after, ok := strings.Cut(in.args, "CMD ")
			if !ok {
				t.Errorf("Dockerfile:%d: HEALTHCHECK without CMD", in.line)
				continue
			}
			hc := jsonArgs(t, dockerInstr{cmd: "HEALTHCHECK", args: after, line: in.line})
			if len(hc) != 2 || hc[0] != "/healthcheck" {
				t.Errorf("Dockerfile:%d: HEALTHCHECK %q: want /healthcheck URL", in.line, hc)
			} else if h, p := hostPort(t, "Dockerfile HEALTHCHECK", hc[1]); h != "127.0.0.1" && h != "localhost" || p != img.port && img.port != 0 {
				t.Errorf("Dockerfile:%d: HEALTHCHECK probes %s, not this container's port", in.line, hc[1])
			} else if !strings.HasSuffix(hc[1], readyPath) {
				t.Errorf("Dockerfile:%d: HEALTHCHECK probes %s, want %s", in.line, hc[1], readyPath)
			}
		}
	}
	if len(froms) != 2 || !strings.HasPrefix(froms[0], "golang:1.26 ") ||
		!(strings.HasPrefix(froms[1], "gcr.io/distroless/static") || froms[1] == "scratch") {
		t.Errorf("Dockerfile: stages %q: want golang:1.26 then distroless/static or scratch", froms)
	}
	if img.uid != 65532 {
		t.Errorf("Dockerfile: runtime USER uid %d, want 65532", img.uid)
	}
	if !slices.Equal(entrypoint, []string{"/eventfold"}) {
		t.Errorf("Dockerfile: ENTRYPOINT %q, want [/eventfold]", entrypoint)
	}
	cli := checkServeConfig(t, "Dockerfile CMD", img.cmd, nil)
	if cli["data-dir"] != img.dataDir || img.dataDir != "/data" {
		t.Errorf("Dockerfile: CMD --data-dir %q, VOLUME %q: want both /data", cli["data-dir"], img.dataDir)
	}
	if p := listenPort(t, "Dockerfile CMD", cli["http"]); p != img.port || p != 8080 {
		t.Errorf("Dockerfile: CMD listens on %d, EXPOSE %d: want both 8080", p, img.port)
	}
	return img
}

func TestDockerfile(t *testing.T) {
	checkDockerfile(t)

	// The build context is the repository root; BuildKit reads
	// deploy/Dockerfile.dockerignore. It must keep what the build needs.
	raw, err := os.ReadFile("Dockerfile.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	needed := []string{"go.mod", "go.sum", "cmd/eventfold/main.go", "deploy/healthcheck/main.go", "interactive/openapi.yaml", "node/node.go"}
	for _, line := range strings.Split(string(raw), "\n") {
		pat := strings.TrimSpace(line)
		if pat == "" || strings.HasPrefix(pat, "#") || strings.HasPrefix(pat, "!") {
			continue
		}
		pat = strings.TrimSuffix(pat, "/")
		for _, p := range needed {
			for q := p; q != "."; q = filepath.Dir(q) {
				if ok, _ := filepath.Match(pat, q); ok {
					t.Errorf("Dockerfile.dockerignore: %q excludes %s, which the build needs", line, p)
				}
			}
		}
	}
}
