package systemtest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/eventfold/eventfold/kafka"
)

var (
	brokers    []string
	kafkaDir   string // the kafka-local cluster dir, for broker faults
	kafkaTool  string // deploy/kafka-local/kafka-local.sh
	binary     string // the eventfold binary under test
	reportPath string // markdown results are appended here
	reportMu   sync.Mutex
)

func TestMain(m *testing.M) {
	b := os.Getenv("EVENTFOLD_SYSTEMTEST_BROKERS")
	if b == "" {
		// Every test skips (needKafka), so the run shows SKIP, not a bare ok;
		// systemtest/run.sh fails a run in which a test skipped.
		os.Exit(m.Run())
	}
	brokers = strings.Split(b, ",")
	kafkaDir = os.Getenv("EVENTFOLD_SYSTEMTEST_KAFKA_DIR")
	kafkaTool, _ = filepath.Abs("../deploy/kafka-local/kafka-local.sh")
	reportPath = os.Getenv("EVENTFOLD_SYSTEMTEST_REPORT")
	tmp, err := os.MkdirTemp("", "eventfold-systemtest-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(tmp, "eventfold")
	build := exec.Command("go", "build", "-o", binary, "../cmd/eventfold")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Println("systemtest: build:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(tmp)
	os.Exit(code)
}

// needKafka skips a test when no Kafka cluster was given; every test calls
// it first.
func needKafka(t *testing.T) {
	t.Helper()
	if len(brokers) == 0 {
		t.Skip("EVENTFOLD_SYSTEMTEST_BROKERS not set: the system tests need Apache Kafka; run `make test-kafka`")
	}
}

// sessionTimeout of the eventfold nodes: the smallest Kafka accepts by
// default (group.min.session.timeout.ms); it is how long a killed node keeps
// its partitions.
const sessionTimeout = 6 * time.Second

// saramaConfig is the client config of test producers and checkers.
func saramaConfig() *sarama.Config {
	c := kafka.NewConfig()
	c.Metadata.RefreshFrequency = time.Second
	return c
}

// report appends a section to the results file, if one was asked for.
func report(t *testing.T, format string, args ...any) {
	t.Logf(format, args...)
	if reportPath == "" {
		return
	}
	reportMu.Lock()
	defer reportMu.Unlock()
	f, err := os.OpenFile(reportPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Errorf("report: %v", err)
		return
	}
	defer f.Close()
	fmt.Fprintf(f, format+"\n", args...)
}

// uniqueApp names a test's application (groups, tables) and topic prefix,
// so tests sharing one Kafka cluster never see each other's data.
func uniqueApp(name string) string {
	return fmt.Sprintf("st-%s-%d", name, rand.Intn(1_000_000))
}

// freePort returns a port nothing listens on and that no earlier call
// returned: the kernel can hand out the same free port twice before the
// first taker binds it, and a node that then fails to bind would leave its
// URL answering for another node.
func freePort(t *testing.T) int {
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if _, taken := handedOut.LoadOrStore(port, true); !taken {
			return port
		}
	}
}

var handedOut sync.Map // port -> true

// broker runs the kafka-local script on the test cluster.
func broker(t *testing.T, args ...string) {
	t.Helper()
	if kafkaDir == "" {
		t.Skip("EVENTFOLD_SYSTEMTEST_KAFKA_DIR not set: broker faults need the kafka-local cluster dir")
	}
	args = append(args, "--dir", kafkaDir)
	out, err := exec.Command("bash", append([]string{kafkaTool}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("kafka-local %v: %v\n%s", args, err, out)
	}
}

// proc is an `eventfold serve` process.
type proc struct {
	id, app, dataDir, url string
	port                  int
	extra                 []string
	log                   string
	brokers               []string // default: the test cluster's
	env                   []string // added to the test's environment

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when the current process ended
}

func newProc(t *testing.T, app, id string, extra ...string) *proc {
	dir := t.TempDir()
	port := freePort(t)
	return &proc{
		id: id, app: app, dataDir: filepath.Join(dir, "data"), port: port,
		url: fmt.Sprintf("http://127.0.0.1:%d", port), extra: extra, log: filepath.Join(dir, "node.log"),
	}
}

func (p *proc) start(t *testing.T) {
	t.Helper()
	if err := p.launch(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			p.dump(t)
		}
		p.kill9()
	})
}

// dump logs, for a failed test, what the node thinks of the cluster and
// its last warnings: the node's log lives in the test's temporary
// directory, gone after the test.
func (p *proc) dump(t *testing.T) {
	client := &http.Client{Timeout: 2 * time.Second}
	if resp, err := client.Get(p.url + "/v1/cluster"); err == nil {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		t.Logf("%s /v1/cluster: %s", p.id, body)
	}
	f, err := os.Open(p.log)
	if err != nil {
		return
	}
	defer f.Close()
	var tail []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if l := sc.Text(); !strings.Contains(l, `"level":"INFO"`) && !strings.Contains(l, `"level":"DEBUG"`) {
			tail = append(tail, l)
			if len(tail) > 30 {
				tail = tail[1:]
			}
		}
	}
	t.Logf("%s: the last %d lines of its log above INFO:\n%s", p.id, len(tail), strings.Join(tail, "\n"))
}

// launch starts the process; it does not touch t, so it may run off the
// test goroutine.
func (p *proc) launch() error {
	bs := brokers
	if p.brokers != nil {
		bs = p.brokers
	}
	args := append([]string{"serve",
		"--brokers", strings.Join(bs, ","),
		"--app", p.app, "--topic-prefix", p.app + "-",
		"--node-id", p.id,
		"--data-dir", p.dataDir,
		"--http", fmt.Sprintf("127.0.0.1:%d", p.port),
		"--advertise", p.url,
		"--partitions", "12", "--replication", "3",
		"--session-timeout", sessionTimeout.String(), "--heartbeat-interval", "1s",
		"--log-format", "json",
	}, p.extra...)
	if p.running() {
		// A second process on the same port and data dir would fail, and
		// the first would outlive the test.
		return fmt.Errorf("%s started while running", p.id)
	}
	logf, err := os.OpenFile(p.log, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if p.env != nil {
		cmd.Env = append(os.Environ(), p.env...)
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	exited := make(chan struct{})
	p.mu.Lock()
	p.cmd, p.exited = cmd, exited
	p.mu.Unlock()
	go func() { cmd.Wait(); logf.Close(); close(exited) }()
	return nil
}

// running reports whether the node's process was started and not killed.
func (p *proc) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil
}

// kill9 ends the process without any goodbye: no LeaveGroup, no commit,
// no flush.
func (p *proc) kill9() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		// The reaper goroutine of start owns cmd.ProcessState (Wait writes
		// it): wait for its signal instead of reading the field.
		select {
		case <-p.exited:
		case <-time.After(5 * time.Second):
		}
	}
	p.cmd = nil
}

// stop asks for a graceful shutdown and waits for it.
func (p *proc) stop(t *testing.T) {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		p.mu.Lock()
		p.cmd = nil
		p.mu.Unlock()
	case <-time.After(30 * time.Second):
		t.Errorf("%s did not stop within 30s; killing", p.id)
		p.kill9()
	}
}

func (p *proc) ready() bool {
	resp, err := http.Get(p.url + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}

// tail returns the last lines of the node's log, for failure messages.
func (p *proc) tail(n int) string {
	f, err := os.Open(p.log)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// waitReady waits until every process answers /readyz.
func waitReady(t *testing.T, timeout time.Duration, ps ...*proc) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for _, p := range ps {
		p.mu.Lock()
		exited := p.exited
		p.mu.Unlock()
		for {
			select {
			case <-exited:
				t.Fatalf("%s exited before it was ready; log:\n%s", p.id, p.tail(30))
			default:
			}
			if p.ready() {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not ready after %v; log:\n%s", p.id, timeout, p.tail(30))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
