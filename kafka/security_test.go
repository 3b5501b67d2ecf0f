package kafka_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/IBM/sarama"

	"github.com/eventfold/eventfold/eventfoldtest"
	"github.com/eventfold/eventfold/kafka"
)

func TestSecurityApply(t *testing.T) {
	files := eventfoldtest.NewTLSFiles(t)
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	withTLS := func(f func(*kafka.TLS)) kafka.Security {
		s := kafka.Security{TLS: kafka.TLS{Enable: true}}
		f(&s.TLS)
		return s
	}
	sasl := func(mech, user, pw string) kafka.Security {
		return kafka.Security{SASL: kafka.SASL{Mechanism: mech, User: user, Password: pw}}
	}
	type want struct {
		tls, mtls, sasl bool
		mechanism       sarama.SASLMechanism
		scram           bool
		serverName      string
		rootCAs         bool
	}
	for _, tc := range []struct {
		name  string
		sec   kafka.Security
		want  want
		field string // the SecurityError's field, "" for none
		err   string // a part of the error
	}{
		{name: "zero changes nothing", sec: kafka.Security{}},
		{name: "TLS with the system CAs", sec: withTLS(func(*kafka.TLS) {}), want: want{tls: true}},
		{name: "TLS with a CA file", sec: withTLS(func(t *kafka.TLS) { t.CAFile = files.CA }), want: want{tls: true, rootCAs: true}},
		{name: "mutual TLS", sec: withTLS(func(t *kafka.TLS) { t.CAFile, t.CertFile, t.KeyFile = files.CA, files.ClientCert, files.ClientKey }),
			want: want{tls: true, rootCAs: true, mtls: true}},
		{name: "server name", sec: withTLS(func(t *kafka.TLS) { t.ServerName = "kafka.internal" }), want: want{tls: true, serverName: "kafka.internal"}},
		{name: "PLAIN", sec: sasl("PLAIN", "carol", "pw"), want: want{sasl: true, mechanism: sarama.SASLTypePlaintext}},
		{name: "SCRAM-SHA-256", sec: sasl("SCRAM-SHA-256", "bob", "pw"), want: want{sasl: true, mechanism: sarama.SASLTypeSCRAMSHA256, scram: true}},
		{name: "SCRAM-SHA-512", sec: sasl("SCRAM-SHA-512", "alice", "pw"), want: want{sasl: true, mechanism: sarama.SASLTypeSCRAMSHA512, scram: true}},
		{name: "mechanism in any case", sec: sasl("scram-sha-512", "alice", "pw"), want: want{sasl: true, mechanism: sarama.SASLTypeSCRAMSHA512, scram: true}},

		{name: "CA file without TLS", sec: kafka.Security{TLS: kafka.TLS{CAFile: files.CA}}, field: "TLS.CAFile", err: "TLS is not enabled"},
		{name: "client cert without TLS", sec: kafka.Security{TLS: kafka.TLS{CertFile: files.ClientCert}}, field: "TLS.CertFile", err: "TLS is not enabled"},
		{name: "client key without TLS", sec: kafka.Security{TLS: kafka.TLS{KeyFile: files.ClientKey}}, field: "TLS.KeyFile", err: "TLS is not enabled"},
		{name: "server name without TLS", sec: kafka.Security{TLS: kafka.TLS{ServerName: "x"}}, field: "TLS.ServerName", err: "TLS is not enabled"},
		{name: "missing CA file", sec: withTLS(func(t *kafka.TLS) { t.CAFile = missing }), field: "TLS.CAFile", err: "no such file"},
		{name: "CA file without a certificate", sec: withTLS(func(t *kafka.TLS) { t.CAFile = notPEM }), field: "TLS.CAFile", err: "no PEM certificate"},
		{name: "certificate without key", sec: withTLS(func(t *kafka.TLS) { t.CertFile = files.ClientCert }), field: "TLS.KeyFile", err: "needs its private key"},
		{name: "key without certificate", sec: withTLS(func(t *kafka.TLS) { t.KeyFile = files.ClientKey }), field: "TLS.CertFile", err: "needs its certificate"},
		{name: "key of another certificate", sec: withTLS(func(t *kafka.TLS) { t.CertFile, t.KeyFile = files.ClientCert, files.ServerKey }), field: "TLS.CertFile", err: "private key does not match"},
		{name: "unknown mechanism", sec: sasl("GSSAPI", "u", "p"), field: "SASL.Mechanism", err: `"GSSAPI": want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512`},
		{name: "user without mechanism", sec: sasl("", "alice", ""), field: "SASL.Mechanism", err: "a SASL user is given"},
		{name: "password without mechanism", sec: sasl("", "", "pw"), field: "SASL.Mechanism", err: "a SASL password is given"},
		{name: "mechanism without user", sec: sasl("PLAIN", "", "pw"), field: "SASL.User", err: "needs a user"},
		{name: "mechanism without password", sec: sasl("SCRAM-SHA-512", "alice", ""), field: "SASL.Password", err: "needs a password"},
		{name: "a password SCRAM cannot prepare", sec: sasl("SCRAM-SHA-256", "alice", "pw\u0007"), field: "SASL.Password", err: "cannot be used with SCRAM"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := kafka.NewConfig()
			err := tc.sec.Apply(c)
			if tc.field != "" {
				var se *kafka.SecurityError
				if !errors.As(err, &se) || se.Field != tc.field || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Apply = %v, want a SecurityError on %s with %q", err, tc.field, tc.err)
				}
				if c.Net.TLS.Enable || c.Net.SASL.Enable {
					t.Errorf("a refused Security changed the config")
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if err := kafka.Validate(c); err != nil {
				t.Fatalf("sarama refuses the applied config: %v", err)
			}
			// Every client starts from a Copy of this config.
			for _, got := range []*sarama.Config{c, kafka.Copy(c, "eventfold-some-client")} {
				n := got.Net
				if n.TLS.Enable != tc.want.tls || n.SASL.Enable != tc.want.sasl {
					t.Fatalf("TLS %v SASL %v, want %v %v", n.TLS.Enable, n.SASL.Enable, tc.want.tls, tc.want.sasl)
				}
				if tc.want.tls {
					tc2 := n.TLS.Config
					if tc2.InsecureSkipVerify {
						t.Error("InsecureSkipVerify is set")
					}
					if tc2.MinVersion < 0x0303 {
						t.Errorf("MinVersion %x, want TLS 1.2 or later", tc2.MinVersion)
					}
					if (tc2.RootCAs != nil) != tc.want.rootCAs || (len(tc2.Certificates) == 1) != tc.want.mtls || tc2.ServerName != tc.want.serverName {
						t.Errorf("tls.Config: RootCAs %v, %d certificates, server name %q", tc2.RootCAs != nil, len(tc2.Certificates), tc2.ServerName)
					}
				}
				if tc.want.sasl {
					if n.SASL.Mechanism != tc.want.mechanism || n.SASL.User != tc.sec.SASL.User || n.SASL.Password != tc.sec.SASL.Password || !n.SASL.Handshake {
						t.Errorf("SASL %+v", n.SASL)
					}
					if (n.SASL.SCRAMClientGeneratorFunc != nil) != tc.want.scram {
						t.Errorf("SCRAM client generator set: %v, want %v", n.SASL.SCRAMClientGeneratorFunc != nil, tc.want.scram)
					}
				}
			}
		})
	}
}

// A Security may be logged: no format shows the password.
func TestSecurityNeverPrintsThePassword(t *testing.T) {
	s := kafka.Security{TLS: kafka.TLS{Enable: true}, SASL: kafka.SASL{Mechanism: "SCRAM-SHA-512", User: "alice", Password: "hunter2-secret"}}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		for _, v := range []any{s, &s, s.SASL, &s.SASL} {
			if got := fmt.Sprintf(format, v); strings.Contains(got, "hunter2") {
				t.Errorf("%s of %T shows the password: %s", format, v, got)
			}
		}
	}
	if got := s.String(); !strings.Contains(got, "SCRAM-SHA-512") || !strings.Contains(got, `"alice"`) || !strings.Contains(got, "TLS") {
		t.Errorf("String() = %q, want the mechanism, the user and TLS", got)
	}
}
