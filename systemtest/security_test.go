package systemtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eventfold/eventfold/eventfoldtest"
	"github.com/eventfold/eventfold/interactive"
)

// secureKafka is a 1-node Apache Kafka with a SASL_SSL listener, started by
// `kafka-local.sh start --sasl-ssl`: its CA and certificates were made by
// openssl, it requires a client certificate (mutual TLS), and its SCRAM
// users were created by Kafka's own StorageTool (format --add-scram).
type secureKafka struct {
	bootstrap  string
	dir        string
	ca         string // the CA that signed the broker's certificate
	cert, key  string // a client certificate it signed
	passwordOf func(user string) string
}

// startSecureKafka starts it in EVENTFOLD_SYSTEMTEST_SECURE_KAFKA_DIR
// (run.sh makes one and stops what is left in it) or a temporary dir, on
// free ports, and stops it when the test ends. A cluster already running in
// that dir is used as it is and left running.
func startSecureKafka(t *testing.T) *secureKafka {
	t.Helper()
	dir := os.Getenv("EVENTFOLD_SYSTEMTEST_SECURE_KAFKA_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	_, err := os.Stat(filepath.Join(dir, "cluster.env"))
	existed := err == nil
	args := []string{kafkaTool, "start", "--sasl-ssl", "--dir", dir}
	if !existed {
		args = append(args, "--base-port", fmt.Sprint(freeBasePort(t)))
	}
	start := time.Now()
	cmd := exec.Command("bash", args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kafka-local %v: %v\n%s", args, err, stderr.String())
	}
	if !existed {
		t.Cleanup(func() {
			if out, err := exec.Command("bash", kafkaTool, "stop", "--dir", dir).CombinedOutput(); err != nil {
				t.Errorf("kafka-local stop: %v\n%s", err, out)
			}
		})
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	k := &secureKafka{
		bootstrap: lines[len(lines)-1], dir: dir,
		ca: filepath.Join(dir, "tls", "ca.pem"), cert: filepath.Join(dir, "tls", "client.crt"), key: filepath.Join(dir, "tls", "client.key"),
	}
	k.passwordOf = func(user string) string {
		b, err := os.ReadFile(filepath.Join(dir, "secrets", user+".password"))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	t.Logf("SASL_SSL Kafka at %s in %v (dir %s)", k.bootstrap, time.Since(start).Round(time.Millisecond), dir)
	return k
}

// freeBasePort finds a kafka-local base port whose broker, controller and
// SASL_SSL ports (N, N+100, N+200) are free, away from the 3-node test
// cluster's 19092-19294.
func freeBasePort(t *testing.T) int {
	for base := 19300; base < 19400; base += 7 {
		free := true
		for _, p := range []int{base, base + 100, base + 200} {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				free = false
				break
			}
			l.Close()
		}
		if free {
			return base
		}
	}
	t.Fatal("no free kafka-local base port in 19300-19400")
	return 0
}

// waitExit waits until the process ends by itself and returns its exit
// code and how long it ran.
func waitExit(t *testing.T, p *proc, started time.Time, timeout time.Duration) (int, time.Duration) {
	t.Helper()
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	select {
	case <-exited:
	case <-time.After(timeout):
		t.Fatalf("%s still runs after %v; log:\n%s", p.id, timeout, p.tail(20))
	}
	return cmd.ProcessState.ExitCode(), time.Since(started)
}

// `eventfold serve` against Kafka over SASL_SSL: with TLS (mutual) and
// SCRAM-SHA-512 it folds events and serves them; a wrong password, an
// untrusted CA and a missing client certificate each stop it at start,
// non-zero, with the message that says which.
func TestKafkaSecurity(t *testing.T) {
	needKafka(t)
	t0 := time.Now()
	k := startSecureKafka(t)
	brokerUp := time.Since(t0)
	secure := []string{"--partitions", "3", "--replication", "1", "--log-format", "text",
		"--kafka-tls", "--kafka-ca-file", k.ca, "--kafka-cert-file", k.cert, "--kafka-key-file", k.key,
		"--kafka-sasl-mechanism", "SCRAM-SHA-512", "--kafka-sasl-user", "alice"}
	app := uniqueApp("secure")

	// The right settings; the password from the environment.
	n := newProc(t, app, "s1", secure...)
	n.brokers = []string{k.bootstrap}
	n.env = []string{"EVENTFOLD_KAFKA_SASL_PASSWORD=" + k.passwordOf("alice")}
	started := time.Now()
	n.start(t)
	waitReady(t, 90*time.Second, n)
	ready := time.Since(started)
	cl := interactive.NewClient(n.url, "")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const entities, perEntity = 10, 5
	for i := range entities {
		id := fmt.Sprintf("o-%d", i)
		if _, err := cl.Append(ctx, "orders", id, []byte(`{"type":"OrderCreated","customer_id":"c-1"}`)); err != nil {
			t.Fatalf("append %s: %v", id, err)
		}
		for j := 1; j < perEntity; j++ {
			if _, err := cl.Append(ctx, "orders", id, []byte(fmt.Sprintf(`{"type":"ItemAdded","sku":"sku-%d","quantity":1,"price_cents":100}`, j))); err != nil {
				t.Fatalf("append %s: %v", id, err)
			}
		}
	}
	// A command: decided on the owner, appended, waited for until folded.
	if _, err := cl.Command(ctx, "orders", "o-cmd", []byte(`{"type":"CreateOrder","customer_id":"c-2"}`), interactive.CommandOptions{}); err != nil {
		t.Fatalf("command: %v", err)
	}
	for i := range entities {
		id := fmt.Sprintf("o-%d", i)
		eventfoldtest.Eventually(t, time.Minute, func() error {
			a, err := cl.Get(ctx, "orders", id)
			if err != nil {
				return err
			}
			if a.Version != perEntity {
				return fmt.Errorf("%s at version %d, want %d", id, a.Version, perEntity)
			}
			return nil
		})
	}
	if a, err := cl.Get(ctx, "orders", "o-cmd"); err != nil || a.Version != 1 {
		t.Errorf("o-cmd: %+v, %v", a, err)
	}
	if h, err := cl.History(ctx, "orders", "o-1", -1, 0); err != nil || len(h.Events) != perEntity {
		t.Errorf("history of o-1: %d events, %v; want %d", len(h.Events), err, perEntity)
	}
	n.stop(t)

	// Each wrong setting: serve must exit non-zero, soon, saying which.
	wrongPassword := filepath.Join(t.TempDir(), "wrong.password")
	if err := os.WriteFile(wrongPassword, []byte("not-"+k.passwordOf("alice")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	other := eventfoldtest.NewTLSFiles(t) // a CA that signed nothing of the broker's
	with := func(flag, value string) []string {
		out := append([]string(nil), secure...)
		for i := range out {
			if out[i] == flag {
				out[i+1] = value
				return out
			}
		}
		return append(out, flag, value)
	}
	noClientCert := []string{"--partitions", "3", "--replication", "1", "--log-format", "text",
		"--kafka-tls", "--kafka-ca-file", k.ca, "--kafka-sasl-mechanism", "SCRAM-SHA-512", "--kafka-sasl-user", "alice"}
	var results []string
	for _, tc := range []struct {
		name     string
		args     []string
		password bool // the right password in the environment
		want     string
	}{
		{"wrong password (from --kafka-sasl-password-file)", with("--kafka-sasl-password-file", wrongPassword), false,
			`kafka: SASL authentication failed for user "alice" (mechanism SCRAM-SHA-512) at ` + k.bootstrap},
		{"untrusted CA", with("--kafka-ca-file", other.CA), true,
			"kafka: TLS: the certificate of the broker at " + k.bootstrap + " is not signed by the CA in --kafka-ca-file (" + other.CA + ")"},
		{"no client certificate", noClientCert, true,
			"kafka: TLS: the broker at " + k.bootstrap + " requires a client certificate (mutual TLS)"},
	} {
		p := newProc(t, app, "bad", tc.args...)
		p.brokers = []string{k.bootstrap}
		if tc.password {
			p.env = []string{"EVENTFOLD_KAFKA_SASL_PASSWORD=" + k.passwordOf("alice")}
		}
		started := time.Now()
		p.start(t)
		code, took := waitExit(t, p, started, 30*time.Second)
		log := p.tail(5)
		if code == 0 || !strings.Contains(log, tc.want) {
			t.Errorf("%s: exit %d after %v, want non-zero with %q; log:\n%s", tc.name, code, took, tc.want, log)
		}
		if took > 10*time.Second {
			t.Errorf("%s: serve took %v to fail", tc.name, took)
		}
		results = append(results, fmt.Sprintf("%s: exit %d after %.1fs", tc.name, code, took.Seconds()))
		t.Logf("%s: %s", tc.name, strings.TrimSpace(log))
	}
	report(t, "| Kafka over SASL_SSL: 1 broker of its own (`kafka-local.sh start --sasl-ssl`: CA and certificates by openssl, client certificates required, SCRAM users by `kafka-storage format --add-scram`) | %d orders × %d events and a command through `serve --kafka-tls … --kafka-sasl-mechanism SCRAM-SHA-512` | broker ready in %.1fs, node ready %.1fs after its start | all served at their versions, history read; %s, each with the message that names the cause |",
		entities, perEntity, brokerUp.Seconds(), ready.Seconds(), strings.Join(results, "; "))
}
