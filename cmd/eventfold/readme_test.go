package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eventfold/eventfold/eventfoldtest"
)

// notRunHere lists the README's shell command lines that this test does not
// run, each with the reason. Every other command line of a ```sh block is a
// curl to localhost:8080 or a `go run ./cmd/eventfold` and is run; a line
// that is neither fails the test, and so does an entry here that the README
// no longer has, so the README cannot drift from what is checked.
var notRunHere = map[string]string{
	"make run":  "it is `go run ./cmd/eventfold dev --http :8080`: this test starts that dev node itself, in-process, on free ports (run(ctx, dev ...)), and runs the README's commands against it",
	"make test": "it runs every test of the repository, this one included",
	"docker compose -f deploy/docker-compose.yml up --build -d":                               "no Docker engine runs here (the deploy files are checked by the deploy tests)",
	"curl -s localhost:8081/v1/cluster":                                                       "it asks the Docker Compose cluster's first node, which does not run here",
	"docker build -f deploy/Dockerfile -t registry.example.com/eventfold:v1 .":                "no Docker engine runs here",
	"(cd deploy/k8s && kustomize edit set image eventfold=registry.example.com/eventfold:v1)": "kustomize is not installed, and the edit would change deploy/k8s in the work tree",
	"$EDITOR deploy/k8s/configmap.yaml":                                                       "an interactive editor",
	"kubectl apply -k deploy/k8s && kubectl rollout status statefulset/eventfold":             "no Kubernetes cluster here",
	"go run ./cmd/eventfold serve --brokers kafka.example.com:9096 --kafka-tls --kafka-ca-file /etc/eventfold/kafka-ca.pem --kafka-sasl-mechanism SCRAM-SHA-512 --kafka-sasl-user eventfold --kafka-sasl-password-file /run/secrets/kafka-password": "it needs a Kafka with TLS and SCRAM: TestServeOverTLSAndSASL (cmd/eventfold/security_test.go) runs serve with these flags against an in-process TLS and SASL broker, and systemtest TestKafkaSecurity against Apache Kafka over SASL_SSL",
}

// readmeLine is one shell command line of the README.
type readmeLine struct {
	at       int    // line number in README.md
	cmd      string // continuations joined, comment removed
	trailing string // the comment on the line itself
	after    string // the comment lines right after it
}

// readmeCommands returns the command lines of the README's ```sh (or bash,
// shell) blocks:
// `\` continuations joined, comments split off. Comment lines directly
// below a command (no blank line between) belong to it.
func readmeCommands(t *testing.T) []readmeLine {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var (
		out     []readmeLine
		inSh    bool
		pending string // a line ending in a backslash
		start   int
	)
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "```") {
			inSh = !inSh && (trimmed == "```sh" || trimmed == "```bash" || trimmed == "```shell")
			pending = ""
			continue
		}
		if !inSh {
			continue
		}
		if pending == "" {
			start = n
		}
		if strings.HasSuffix(line, `\`) {
			pending += strings.TrimSuffix(line, `\`) + " "
			continue
		}
		line, pending = pending+line, ""
		trimmed = strings.TrimSpace(line)
		switch {
		case trimmed == "":
			out = append(out, readmeLine{}) // a blank line ends the comments of a command
		case strings.HasPrefix(trimmed, "#"):
			if last := len(out) - 1; last >= 0 && out[last].cmd != "" {
				out[last].after += strings.TrimSpace(strings.TrimPrefix(trimmed, "#")) + "\n"
			}
		default:
			cmd, comment := splitComment(trimmed)
			out = append(out, readmeLine{at: start, cmd: cmd, trailing: comment})
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	cmds := out[:0]
	for _, l := range out {
		if l.cmd != "" {
			cmds = append(cmds, l)
		}
	}
	if len(cmds) < 20 {
		t.Fatalf("found only %d command lines in the README's sh blocks", len(cmds))
	}
	return cmds
}

// splitComment splits a shell line at its first unquoted "#" that starts a
// word.
func splitComment(line string) (cmd, comment string) {
	var quote byte
	for i := 0; i < len(line); i++ {
		switch c := line[i]; {
		case quote != 0:
			if c == quote {
				quote = 0
			} else if c == '\\' && quote == '"' {
				i++
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '\\':
			i++
		case c == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t'):
			return strings.TrimSpace(line[:i]), strings.TrimSpace(line[i+1:])
		}
	}
	return strings.TrimSpace(line), ""
}

// shellWords splits a command line into words as sh does for the quoting the
// README uses ('…', "…", \x); an unquoted | is a word of its own.
func shellWords(line string) ([]string, error) {
	var (
		words []string
		word  strings.Builder
		in    bool // a word has started (it may be empty: '')
		quote byte
	)
	flush := func() {
		if in {
			words = append(words, word.String())
		}
		word.Reset()
		in = false
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote == '\'':
			if c == '\'' {
				quote = 0
			} else {
				word.WriteByte(c)
			}
		case quote == '"':
			switch {
			case c == '"':
				quote = 0
			case c == '\\' && i+1 < len(line) && strings.IndexByte("\"\\$`", line[i+1]) >= 0:
				i++
				word.WriteByte(line[i])
			default:
				word.WriteByte(c)
			}
		case c == '\'' || c == '"':
			quote, in = c, true
		case c == '\\' && i+1 < len(line):
			i++
			word.WriteByte(line[i])
			in = true
		case c == ' ' || c == '\t':
			flush()
		case c == '|':
			flush()
			words = append(words, "|")
		default:
			word.WriteByte(c)
			in = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote", quote)
	}
	flush()
	return words, nil
}

// errorCodes maps the API's error codes to their HTTP status (README, "HTTP
// API").
var errorCodes = map[string]int{
	"invalid": 400, "unauthorized": 401, "not_found": 404, "conflict": 409,
	"too_large": 413, "rejected": 422, "not_owner": 421, "unavailable": 503, "not_recovered": 503,
}

var (
	codeInComment   = regexp.MustCompile(`"code":"(\w+)"`)
	statusInComment = regexp.MustCompile(`\b([45]\d\d)\b`)
)

// expectedStatus reads what the README says a command answers: the status
// of the error code its comments show ("code":"conflict" is 409), else a
// 4xx/5xx status named in the comment on its line ("# 404 …", "(404 if it
// did not exist yet)"); 0 means success (2xx).
func expectedStatus(t *testing.T, l readmeLine) int {
	if m := codeInComment.FindStringSubmatch(l.trailing + "\n" + l.after); m != nil {
		status, ok := errorCodes[m[1]]
		if !ok {
			t.Fatalf("README.md:%d: the comment shows error code %q, which this test does not know", l.at, m[1])
		}
		return status
	}
	if m := statusInComment.FindStringSubmatch(l.trailing); m != nil {
		status, _ := strconv.Atoi(m[1])
		return status
	}
	return 0
}

// Every command line the README shows is run here against a dev node (the
// node `make run` starts), with the outcome the README says it has, or is
// listed in notRunHere with the reason.
func TestReadmeCommands(t *testing.T) {
	lines := readmeCommands(t)
	curl, curlErr := exec.LookPath("curl")

	// The tour starts once the dev node has folded its seed data.
	base, brokers := startDev(t)

	seen := map[string]bool{}
	ran := 0
	for _, l := range lines {
		if _, ok := notRunHere[l.cmd]; ok {
			seen[l.cmd] = true
			continue
		}
		words, err := shellWords(l.cmd)
		if err != nil {
			t.Errorf("README.md:%d: %q: %v", l.at, l.cmd, err)
			continue
		}
		want := expectedStatus(t, l)
		name := fmt.Sprintf("README.md:%d", l.at)
		switch {
		case words[0] == "curl" && strings.Contains(l.cmd, "localhost:8080"):
			ran++
			t.Run(name, func(t *testing.T) {
				if curlErr != nil {
					t.Skipf("curl is not installed (%v): cannot run %s", curlErr, l.cmd)
				}
				runCurl(t, curl, words, base, want, l)
			})
		case len(words) >= 4 && words[0] == "go" && words[1] == "run" && words[2] == "./cmd/eventfold":
			ran++
			t.Run(name, func(t *testing.T) {
				runEventfold(t, context.Background(), words[3:], base, brokers, want, l)
			})
		default:
			t.Errorf("README.md:%d: %q is neither run by this test (a curl to localhost:8080 or a go run ./cmd/eventfold) nor listed in notRunHere with the reason", l.at, l.cmd)
		}
	}
	for cmd := range notRunHere {
		if !seen[cmd] {
			t.Errorf("notRunHere lists %q, which the README no longer has", cmd)
		}
	}
	t.Logf("ran %d README command lines, %d listed as not run here", ran, len(seen))
}

// runCurl runs a README curl line as a process, against base instead of
// localhost:8080, and checks the HTTP status; the rest of a pipeline (| grep
// …) runs in sh on curl's output and must succeed too.
func runCurl(t *testing.T, curl string, words []string, base string, want int, l readmeLine) {
	args, pipe := words[1:], ""
	for i, w := range words {
		if w == "|" {
			args, pipe = words[1:i], strings.TrimSpace(l.cmd[strings.Index(l.cmd, "|")+1:])
			break
		}
	}
	var rewritten []string
	for _, a := range args {
		a = strings.Replace(a, "http://localhost:8080", base, 1)
		if strings.HasPrefix(a, "localhost:8080") {
			a = base + strings.TrimPrefix(a, "localhost:8080")
		}
		rewritten = append(rewritten, a)
	}
	const marker = "\n--http-status:"
	rewritten = append(rewritten, "--max-time", "30", "-w", marker+"%{http_code}")
	cmd := exec.Command(curl, rewritten...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: curl %q: %v\n%s", l.cmd, rewritten, err, stderr.Bytes())
	}
	i := bytes.LastIndex(out, []byte(marker))
	if i < 0 {
		t.Fatalf("%s: no status in curl's output %q", l.cmd, out)
	}
	body := out[:i]
	status, _ := strconv.Atoi(string(out[i+len(marker):]))
	switch {
	case want == 0 && (status < 200 || status > 299):
		t.Errorf("%s: HTTP %d, the README expects success\n%s", l.cmd, status, body)
	case want != 0 && status != want:
		t.Errorf("%s: HTTP %d, the README says %d\n%s", l.cmd, status, want, body)
	default:
		t.Logf("%s: HTTP %d %s", l.cmd, status, truncate(body))
	}
	if pipe != "" {
		sh := exec.Command("sh", "-c", pipe)
		sh.Stdin = bytes.NewReader(body)
		if out, err := sh.CombinedOutput(); err != nil {
			t.Errorf("%s: | %s: %v\n%s", l.cmd, pipe, err, truncate(out))
		}
	}
}

// runEventfold runs a README `go run ./cmd/eventfold` line in-process:
// client commands get --url of the test node, kafka:9092 becomes the dev
// node's broker, and serve runs as a second node (its own app name, data
// dir and port) until it is ready, then stops.
func runEventfold(t *testing.T, ctx context.Context, args []string, base, brokers string, want int, l readmeLine) {
	for i, a := range args {
		args[i] = strings.ReplaceAll(a, "kafka:9092", brokers)
	}
	switch args[0] {
	case "serve":
		runServeLine(t, ctx, args, l)
		return
	case "get", "emit", "cmd", "history", "list", "subscribers":
		args = append(args, "--url", base)
	}
	err := run(ctx, args)
	switch {
	case want == 0 && err != nil:
		t.Errorf("%s: eventfold %q: %v", l.cmd, args, err)
	case want != 0 && err == nil:
		t.Errorf("%s: eventfold %q succeeded, the README says %d", l.cmd, args, want)
	}
}

// runServeLine runs `serve --brokers kafka:9092 --data-dir … --http :8080`
// against the dev node's broker, with a temporary data dir, a free port and
// its own --app (so it folds into its own groups and tables instead of
// taking partitions from the dev node), until /readyz answers 200.
func runServeLine(t *testing.T, ctx context.Context, args []string, l readmeLine) {
	port := freePort(t)
	for i := 0; i+1 < len(args); i++ {
		switch args[i] {
		case "--data-dir":
			args[i+1] = t.TempDir()
		case "--http":
			args[i+1] = fmt.Sprintf("127.0.0.1:%d", port)
		}
	}
	args = append(args, "--app", "readme-serve", "--log-level", "error")
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- run(ctx, args) }()
	eventfoldtest.Eventually(t, 90*time.Second, func() error {
		select {
		case err := <-done:
			done <- err
			return fmt.Errorf("serve ended: %v", err)
		default:
		}
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", port))
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz: %s", resp.Status)
		}
		return nil
	})
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("%s: eventfold %q: %v", l.cmd, args, err)
	}
}

func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

// The extraction the test relies on.
func TestReadmeExtraction(t *testing.T) {
	for _, tc := range []struct {
		line, cmd, comment string
		words              []string
	}{
		{`curl -s localhost:8080/v1/orders/nope          # 404 {"error":"…","code":"not_found"}`,
			`curl -s localhost:8080/v1/orders/nope`, `404 {"error":"…","code":"not_found"}`,
			[]string{"curl", "-s", "localhost:8080/v1/orders/nope"}},
		{`curl -s -XPOST -H 'If-Match: "2"' -H 'Content-Type: application/json' localhost:8080/x -d '{"a":"#1"}' # c`,
			`curl -s -XPOST -H 'If-Match: "2"' -H 'Content-Type: application/json' localhost:8080/x -d '{"a":"#1"}'`, "c",
			[]string{"curl", "-s", "-XPOST", "-H", `If-Match: "2"`, "-H", "Content-Type: application/json", "localhost:8080/x", "-d", `{"a":"#1"}`}},
		{`curl -s localhost:8080/metrics | grep eventfold_`, `curl -s localhost:8080/metrics | grep eventfold_`, "",
			[]string{"curl", "-s", "localhost:8080/metrics", "|", "grep", "eventfold_"}},
		{`go run ./cmd/eventfold cmd orders o "{\"type\":\"X\"}" a\ b ''#x`, `go run ./cmd/eventfold cmd orders o "{\"type\":\"X\"}" a\ b ''#x`, "",
			[]string{"go", "run", "./cmd/eventfold", "cmd", "orders", "o", `{"type":"X"}`, "a b", "#x"}},
	} {
		cmd, comment := splitComment(tc.line)
		if cmd != tc.cmd || comment != tc.comment {
			t.Errorf("splitComment(%s) = %q, %q", tc.line, cmd, comment)
		}
		words, err := shellWords(cmd)
		if err != nil || strings.Join(words, "\x00") != strings.Join(tc.words, "\x00") {
			t.Errorf("shellWords(%s) = %q, %v; want %q", cmd, words, err, tc.words)
		}
	}
	for _, tc := range []struct {
		l    readmeLine
		want int
	}{
		{readmeLine{trailing: "version 4, status \"approved\""}, 0},
		{readmeLine{trailing: "as of a time (404 if it did not exist yet)"}, 404},
		{readmeLine{after: `{"error":"version conflict: expected 2, entity is at 3","code":"conflict","current_version":3}` + "\n"}, 409},
		{readmeLine{after: `{"error":"rejected: … cannot ship …","code":"rejected"}` + "\n"}, 422},
		{readmeLine{after: `{"id":"order-42","version":3,"partition":2,"offset":499}` + "\n"}, 0},
	} {
		if got := expectedStatus(t, tc.l); got != tc.want {
			t.Errorf("expectedStatus(%+v) = %d, want %d", tc.l, got, tc.want)
		}
	}
}
