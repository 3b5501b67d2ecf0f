package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/eventfold/eventfold/eventfoldtest"
	"github.com/eventfold/eventfold/interactive"
	"github.com/eventfold/eventfold/kafka"
)

// The TLS and SASL flags, the password from a file or the environment, and
// the errors that name the flag to fix.
func TestKafkaSecurityFlags(t *testing.T) {
	files := eventfoldtest.NewTLSFiles(t)
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "password")
	if err := os.WriteFile(pwFile, []byte("s3cret with spaces\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	crlfFile := filepath.Join(dir, "password-crlf")
	if err := os.WriteFile(crlfFile, []byte("s3cret\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	emptyFile := filepath.Join(dir, "empty")
	if err := os.WriteFile(emptyFile, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	scram := []string{"--kafka-sasl-mechanism", "SCRAM-SHA-512", "--kafka-sasl-user", "alice"}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want kafka.Security
		err  string // a part of the error, "" for none
	}{
		{name: "none", args: nil, want: kafka.Security{}},
		{name: "TLS, CA, client certificate, server name",
			args: []string{"--kafka-tls", "--kafka-ca-file", files.CA, "--kafka-cert-file", files.ClientCert, "--kafka-key-file", files.ClientKey, "--kafka-server-name", "kafka.internal"},
			want: kafka.Security{TLS: kafka.TLS{Enable: true, CAFile: files.CA, CertFile: files.ClientCert, KeyFile: files.ClientKey, ServerName: "kafka.internal"}}},
		{name: "TLS from the environment",
			env:  map[string]string{"EVENTFOLD_KAFKA_TLS": "true", "EVENTFOLD_KAFKA_CA_FILE": files.CA},
			want: kafka.Security{TLS: kafka.TLS{Enable: true, CAFile: files.CA}}},
		{name: "password from a file, trailing newline dropped",
			args: append([]string{"--kafka-sasl-password-file", pwFile}, scram...),
			want: kafka.Security{SASL: kafka.SASL{Mechanism: "SCRAM-SHA-512", User: "alice", Password: "s3cret with spaces"}}},
		{name: "password from a file with CRLF",
			args: append([]string{"--kafka-sasl-password-file", crlfFile}, scram...),
			want: kafka.Security{SASL: kafka.SASL{Mechanism: "SCRAM-SHA-512", User: "alice", Password: "s3cret"}}},
		{name: "password file named in the environment",
			args: scram, env: map[string]string{"EVENTFOLD_KAFKA_SASL_PASSWORD_FILE": pwFile},
			want: kafka.Security{SASL: kafka.SASL{Mechanism: "SCRAM-SHA-512", User: "alice", Password: "s3cret with spaces"}}},
		{name: "password from the environment",
			args: scram, env: map[string]string{"EVENTFOLD_KAFKA_SASL_PASSWORD": "from-env"},
			want: kafka.Security{SASL: kafka.SASL{Mechanism: "SCRAM-SHA-512", User: "alice", Password: "from-env"}}},
		{name: "everything from the environment",
			env:  map[string]string{"EVENTFOLD_KAFKA_SASL_MECHANISM": "PLAIN", "EVENTFOLD_KAFKA_SASL_USER": "carol", "EVENTFOLD_KAFKA_SASL_PASSWORD": "pw", "EVENTFOLD_KAFKA_TLS": "1"},
			want: kafka.Security{TLS: kafka.TLS{Enable: true}, SASL: kafka.SASL{Mechanism: "PLAIN", User: "carol", Password: "pw"}}},

		{name: "both password sources", args: append([]string{"--kafka-sasl-password-file", pwFile}, scram...),
			env: map[string]string{"EVENTFOLD_KAFKA_SASL_PASSWORD": "x"}, err: "--kafka-sasl-password-file and EVENTFOLD_KAFKA_SASL_PASSWORD are both set"},
		{name: "missing password file", args: append([]string{"--kafka-sasl-password-file", filepath.Join(dir, "nope")}, scram...), err: "--kafka-sasl-password-file: open"},
		{name: "empty password file", args: append([]string{"--kafka-sasl-password-file", emptyFile}, scram...), err: "is empty"},
		{name: "an empty password in the environment is none", args: scram, env: map[string]string{"EVENTFOLD_KAFKA_SASL_PASSWORD": ""}, err: "--kafka-sasl-password-file or EVENTFOLD_KAFKA_SASL_PASSWORD: missing"},
		{name: "an empty password in the environment without SASL", env: map[string]string{"EVENTFOLD_KAFKA_SASL_PASSWORD": ""}, want: kafka.Security{}},
		{name: "an empty password file named in the environment", env: map[string]string{"EVENTFOLD_KAFKA_SASL_PASSWORD_FILE": "", "EVENTFOLD_KAFKA_CA_FILE": "", "EVENTFOLD_KAFKA_SASL_MECHANISM": ""}, want: kafka.Security{}},
		{name: "no password", args: scram, err: "--kafka-sasl-password-file or EVENTFOLD_KAFKA_SASL_PASSWORD: missing"},
		{name: "no user", args: []string{"--kafka-sasl-mechanism", "PLAIN"}, env: map[string]string{"EVENTFOLD_KAFKA_SASL_PASSWORD": "x"}, err: "--kafka-sasl-user: missing"},
		{name: "unknown mechanism", args: []string{"--kafka-sasl-mechanism", "OAUTHBEARER"}, err: `--kafka-sasl-mechanism: "OAUTHBEARER": want PLAIN`},
		{name: "user without mechanism", args: []string{"--kafka-sasl-user", "alice"}, err: "--kafka-sasl-mechanism: missing"},
		{name: "CA file without TLS", args: []string{"--kafka-ca-file", files.CA}, err: "--kafka-ca-file: given, but TLS is not enabled"},
		{name: "certificate without key", args: []string{"--kafka-tls", "--kafka-cert-file", files.ClientCert}, err: "--kafka-key-file: missing"},
		{name: "unreadable CA file", args: []string{"--kafka-tls", "--kafka-ca-file", filepath.Join(dir, "nope")}, err: "--kafka-ca-file: open"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(envSASLPassword, "") // restored after the test
			os.Unsetenv(envSASLPassword)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			fs := flag.NewFlagSet("serve", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			var f serveFlags
			f.register(fs)
			if err := parse(fs, tc.args); err != nil {
				t.Fatal(err)
			}
			c, _, err := f.kafka.sarama()
			if wantErr(t, err, tc.err) {
				return
			}
			if got := f.kafka.applied; got != tc.want {
				t.Errorf("settings %+v (password %q), want %+v (password %q)", got, got.SASL.Password, tc.want, tc.want.SASL.Password)
			}
			if c.Net.TLS.Enable != tc.want.TLS.Enable || c.Net.SASL.Enable != (tc.want.SASL.Mechanism != "") || c.Net.SASL.Password != tc.want.SASL.Password {
				t.Errorf("sarama config: TLS %v, SASL %v", c.Net.TLS.Enable, c.Net.SASL.Enable)
			}
		})
	}
}

// A password is never an argument (ps shows arguments to every user): no
// command has a flag that takes one.
func TestNoPasswordFlag(t *testing.T) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var f serveFlags
	f.register(fs)
	var names []string
	fs.VisitAll(func(fl *flag.Flag) {
		n := strings.ToLower(fl.Name)
		if (strings.Contains(n, "password") || strings.Contains(n, "secret") || strings.Contains(n, "token")) &&
			!strings.HasSuffix(n, "-file") && n != "metrics-need-token" {
			names = append(names, fl.Name)
		}
	})
	if len(names) > 0 {
		t.Errorf("flags that take a secret as an argument: %v", names)
	}
	for _, cmd := range []string{"serve", "topics", "dev"} {
		for _, arg := range []string{"--kafka-sasl-password", "--kafka-sasl-password=x", "--sasl-password", "--token", "--cluster-secret"} {
			err := run(context.Background(), []string{cmd, arg, "x"})
			if err == nil || !strings.Contains(err.Error(), "flag provided but not defined") {
				t.Errorf("%s %s x: %v, want the flag refused", cmd, arg, err)
			}
		}
	}
}

// dev's in-process broker speaks neither TLS nor SASL: settings for them are
// refused, not ignored.
func TestDevRefusesKafkaSecurity(t *testing.T) {
	for _, args := range [][]string{{"--kafka-tls"}, {"--kafka-sasl-mechanism", "PLAIN"}} {
		err := run(context.Background(), append([]string{"dev", "--http", "127.0.0.1:0"}, args...))
		if err == nil || !strings.Contains(err.Error(), "without TLS or SASL") {
			t.Errorf("dev %v = %v, want a refusal", args, err)
		}
	}
}

// secureKafka is an in-process broker with a TLS listener that requires a
// client certificate and a SCRAM-SHA-512 user.
func secureKafka(t *testing.T) (*eventfoldtest.TLSFiles, *eventfoldtest.Kafka) {
	files := eventfoldtest.NewTLSFiles(t)
	k := eventfoldtest.NewKafka(t, 1,
		kfake.TLS(files.ServerConfig(true)),
		kfake.EnableSASL(),
		kfake.Superuser("SCRAM-SHA-512", "alice", "alice-pw"),
	)
	return files, k
}

// `serve` with TLS (mutual), SCRAM-SHA-512 and the password from the
// environment: a processor and a replica both connect (goka processor and
// view, producers, ownership admin, announcer, history fetcher are all
// built from the one config), fold an event and serve it; `topics`
// verifies the topics over the same connection.
func TestServeOverTLSAndSASL(t *testing.T) {
	files, k := secureKafka(t)
	t.Setenv(envSASLPassword, "alice-pw")
	secure := []string{"--brokers", k.Brokers[0], "--app", "secure", "--partitions", "2", "--replication", "1",
		"--kafka-tls", "--kafka-ca-file", files.CA, "--kafka-cert-file", files.ClientCert, "--kafka-key-file", files.ClientKey,
		"--kafka-sasl-mechanism", "SCRAM-SHA-512", "--kafka-sasl-user", "alice",
		"--session-timeout", "2s", "--heartbeat-interval", "200ms", "--log-level", "error"}
	start := func(role string) string {
		port := freePort(t)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		args := append([]string{"serve", "--role", role, "--node-id", role, "--data-dir", t.TempDir(),
			"--http", fmt.Sprintf("127.0.0.1:%d", port)}, secure...)
		go func() { done <- run(ctx, args) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("serve --role %s: %v", role, err)
			}
		})
		url := fmt.Sprintf("http://127.0.0.1:%d", port)
		eventfoldtest.Eventually(t, 60*time.Second, func() error {
			select {
			case err := <-done:
				done <- err
				t.Fatalf("serve --role %s ended: %v", role, err)
			default:
			}
			resp, err := http.Get(url + "/readyz")
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				return fmt.Errorf("readyz %d", resp.StatusCode)
			}
			return nil
		})
		return url
	}
	proc := start("processor")
	cl := interactive.NewClient(proc, "")
	ctx := eventfoldtest.Context(t, time.Minute)
	if _, err := cl.Append(ctx, "orders", "o-1", []byte(`{"type":"OrderCreated","customer_id":"c-1"}`)); err != nil {
		t.Fatalf("append: %v", err)
	}
	replica := start("replica")
	for _, url := range []string{proc, replica} {
		cl := interactive.NewClient(url, "")
		eventfoldtest.Eventually(t, 30*time.Second, func() error {
			a, err := cl.Get(ctx, "orders", "o-1")
			if err != nil {
				return err
			}
			if a.Version != 1 {
				return fmt.Errorf("version %d", a.Version)
			}
			return nil
		})
	}
	// The history of an entity is read through the history fetcher.
	if h, err := cl.History(ctx, "orders", "o-1", -1, 10); err != nil || len(h.Events) != 1 {
		t.Errorf("history: %+v, %v", h, err)
	}
	if err := run(ctx, append([]string{"topics"}, secure[:len(secure)-2]...)); err != nil {
		t.Errorf("topics over TLS and SASL: %v", err)
	}
}

// An untrusted broker certificate stops serve at once, with a message that
// names the CA file.
func TestServeRefusesUntrustedBroker(t *testing.T) {
	_, k := secureKafka(t)
	other := eventfoldtest.NewTLSFiles(t)
	t.Setenv(envSASLPassword, "alice-pw")
	start := time.Now()
	err := run(context.Background(), []string{"serve", "--brokers", k.Brokers[0], "--data-dir", t.TempDir(), "--http", "127.0.0.1:0",
		"--kafka-tls", "--kafka-ca-file", other.CA, "--kafka-cert-file", other.ClientCert, "--kafka-key-file", other.ClientKey,
		"--kafka-sasl-mechanism", "SCRAM-SHA-512", "--kafka-sasl-user", "alice", "--log-level", "error"})
	want := "kafka: TLS: the certificate of the broker at " + k.Brokers[0] + " is not signed by the CA in --kafka-ca-file (" + other.CA + ")"
	if err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, kafka.ErrUntrustedCertificate) {
		t.Fatalf("serve = %v, want %q", err, want)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("serve took %v to fail", took)
	}
}
