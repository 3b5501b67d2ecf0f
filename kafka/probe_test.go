package kafka_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/eventfold/eventfold/eventfoldtest"
	"github.com/eventfold/eventfold/kafka"
)

// Probe against an in-process broker with a TLS listener that requires a
// client certificate, and SASL users for the three mechanisms: the right
// settings connect; an untrusted broker certificate, a missing client
// certificate and a wrong server name fail at once with the cause; an
// unreachable broker fails when the context ends.
func TestProbe(t *testing.T) {
	files := eventfoldtest.NewTLSFiles(t)
	other := eventfoldtest.NewTLSFiles(t) // a CA that signed nothing of the broker's
	k := eventfoldtest.NewKafka(t, 1,
		kfake.TLS(files.ServerConfig(true)),
		kfake.EnableSASL(),
		kfake.Superuser("SCRAM-SHA-512", "alice", "alice-pw"),
		kfake.Superuser("SCRAM-SHA-256", "bob", "bob-pw"),
		kfake.Superuser("PLAIN", "carol", "carol-pw"),
	)
	mtls := kafka.TLS{Enable: true, CAFile: files.CA, CertFile: files.ClientCert, KeyFile: files.ClientKey}
	for _, tc := range []struct {
		name string
		sec  kafka.Security
		kind error  // nil: connects
		msg  string // a part of the message
	}{
		{"SCRAM-SHA-512", kafka.Security{TLS: mtls, SASL: kafka.SASL{Mechanism: "SCRAM-SHA-512", User: "alice", Password: "alice-pw"}}, nil, ""},
		{"SCRAM-SHA-256", kafka.Security{TLS: mtls, SASL: kafka.SASL{Mechanism: "SCRAM-SHA-256", User: "bob", Password: "bob-pw"}}, nil, ""},
		{"PLAIN", kafka.Security{TLS: mtls, SASL: kafka.SASL{Mechanism: "PLAIN", User: "carol", Password: "carol-pw"}}, nil, ""},
		{"server name", kafka.Security{TLS: func() kafka.TLS { t := mtls; t.ServerName = "localhost"; return t }(),
			SASL: kafka.SASL{Mechanism: "PLAIN", User: "carol", Password: "carol-pw"}}, nil, ""},
		{"untrusted CA", kafka.Security{TLS: kafka.TLS{Enable: true, CAFile: other.CA, CertFile: files.ClientCert, KeyFile: files.ClientKey},
			SASL: kafka.SASL{Mechanism: "SCRAM-SHA-512", User: "alice", Password: "alice-pw"}},
			kafka.ErrUntrustedCertificate, "is not signed by the configured CA"},
		{"system CAs", kafka.Security{TLS: kafka.TLS{Enable: true, CertFile: files.ClientCert, KeyFile: files.ClientKey}},
			kafka.ErrUntrustedCertificate, "is not signed by a CA this system trusts"},
		{"no client certificate", kafka.Security{TLS: kafka.TLS{Enable: true, CAFile: files.CA},
			SASL: kafka.SASL{Mechanism: "SCRAM-SHA-512", User: "alice", Password: "alice-pw"}},
			kafka.ErrTLS, "requires a client certificate"},
		{"a client certificate of another CA", kafka.Security{TLS: kafka.TLS{Enable: true, CAFile: files.CA, CertFile: other.ClientCert, KeyFile: other.ClientKey}},
			kafka.ErrTLS, "refused the client certificate"},
		{"wrong server name", kafka.Security{TLS: func() kafka.TLS { t := mtls; t.ServerName = "kafka.example.com"; return t }()},
			kafka.ErrTLS, `not valid for the name "kafka.example.com"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := eventfoldtest.SaramaConfig()
			if err := tc.sec.Apply(c); err != nil {
				t.Fatal(err)
			}
			ctx := eventfoldtest.Context(t, 20*time.Second)
			start := time.Now()
			err := kafka.Probe(ctx, k.Brokers, c)
			took := time.Since(start)
			if tc.kind == nil {
				if err != nil {
					t.Fatalf("Probe: %v", err)
				}
				return
			}
			var ce *kafka.ConnectError
			if !errors.Is(err, tc.kind) || !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Probe = %v, want %v with %q", err, tc.kind, tc.msg)
			}
			if ce.Broker != k.Brokers[0] {
				t.Errorf("Broker %q, want %q", ce.Broker, k.Brokers[0])
			}
			// Not retried until the context ends: a retry cannot mend it.
			if took > 5*time.Second {
				t.Errorf("took %v: a TLS error must be returned at once", took)
			}
		})
	}
}

func TestProbeUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	// 3 s: a refused dial answers at once, but under make test's load
	// (-race, two cores) the first round took over a second once.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	err = kafka.Probe(ctx, []string{addr}, kafka.NewConfig())
	if !errors.Is(err, kafka.ErrUnreachable) || !strings.Contains(err.Error(), "cannot reach "+addr) {
		t.Fatalf("Probe = %v, want ErrUnreachable naming %s", err, addr)
	}
	if took := time.Since(start); took > 6*time.Second {
		t.Errorf("took %v with a 3 s context", took)
	}
}

// A plaintext client at a TLS listener is told that the connection was
// closed, after a few tries, long before the context ends.
func TestProbePlaintextClientAtTLSListener(t *testing.T) {
	files := eventfoldtest.NewTLSFiles(t)
	k := eventfoldtest.NewKafka(t, 1, kfake.TLS(files.ServerConfig(false)))
	ctx := eventfoldtest.Context(t, 20*time.Second)
	start := time.Now()
	err := kafka.Probe(ctx, k.Brokers, eventfoldtest.SaramaConfig())
	if !errors.Is(err, kafka.ErrUnreachable) || !strings.Contains(err.Error(), "closed the connection (does that listener want TLS, or SASL?)") {
		t.Fatalf("Probe = %v, want ErrUnreachable: closed the connection", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %v", took)
	}
}

// What a real broker answers to a wrong password or a mechanism it does not
// enable (kfake closes the connection instead), from sarama's mock broker:
// both are returned at once, naming the user and the mechanism.
func TestProbeSASLRefused(t *testing.T) {
	for _, tc := range []struct {
		name            string
		handshake, auth sarama.KError
		msg             string
	}{
		{"wrong password", sarama.ErrNoError, sarama.ErrSASLAuthenticationFailed, `kafka: SASL authentication failed for user "alice" (mechanism SCRAM-SHA-512) at `},
		{"mechanism not enabled", sarama.ErrUnsupportedSASLMechanism, sarama.ErrNoError, "does not enable mechanism SCRAM-SHA-512"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := sarama.NewMockBroker(t, 1)
			defer b.Close()
			b.SetHandlerByMap(map[string]sarama.MockResponse{
				"ApiVersionsRequest": sarama.NewMockApiVersionsResponse(t).SetApiKeys([]sarama.ApiVersionsResponseKey{
					{ApiKey: 3, MinVersion: 0, MaxVersion: 12}, // Metadata
					{ApiKey: 17, MinVersion: 0, MaxVersion: 1}, // SaslHandshake
					{ApiKey: 18, MinVersion: 0, MaxVersion: 3}, // ApiVersions
					{ApiKey: 36, MinVersion: 0, MaxVersion: 2}, // SaslAuthenticate
				}),
				"SaslHandshakeRequest":    sarama.NewMockSaslHandshakeResponse(t).SetError(tc.handshake).SetEnabledMechanisms([]string{"SCRAM-SHA-512"}),
				"SaslAuthenticateRequest": sarama.NewMockSaslAuthenticateResponse(t).SetError(tc.auth),
			})
			c := kafka.NewConfig()
			if err := (kafka.Security{SASL: kafka.SASL{Mechanism: "SCRAM-SHA-512", User: "alice", Password: "wrong"}}).Apply(c); err != nil {
				t.Fatal(err)
			}
			ctx := eventfoldtest.Context(t, 20*time.Second)
			start := time.Now()
			err := kafka.Probe(ctx, []string{b.Addr()}, c)
			if !errors.Is(err, kafka.ErrSASLAuthentication) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Probe = %v, want ErrSASLAuthentication with %q", err, tc.msg)
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("took %v: a refused login must be returned at once", took)
			}
			t.Log(err)
		})
	}
}
