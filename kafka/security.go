package kafka

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"

	"github.com/IBM/sarama"
	"github.com/xdg-go/scram"
)

// Security is how eventfold's Kafka clients reach the brokers: TLS (who the
// broker is, and an encrypted connection), optionally a client certificate
// (mutual TLS: who the client is), and SASL (who the client is, by name and
// password). Apply writes it into the one sarama configuration every client
// of a node is copied from (Copy), so goka's processors and views, the
// producers, the admin and ownership clients and the history fetcher all
// use it. The zero Security changes nothing: plaintext, no authentication.
//
// There is no way to skip certificate verification.
type Security struct {
	TLS  TLS
	SASL SASL
}

// TLS settings of the client connections.
type TLS struct {
	// Enable connects over TLS (1.2 or later), verifying the brokers'
	// certificates. Default false.
	Enable bool
	// CAFile is a PEM file with the CA certificates the brokers'
	// certificates must chain to. Default: the system's CAs.
	CAFile string
	// CertFile and KeyFile are the PEM client certificate and its private
	// key, for brokers that require mutual TLS (ssl.client.auth=required).
	// Both or neither; default neither.
	CertFile, KeyFile string
	// ServerName is the name the brokers' certificates must carry.
	// Default: the host of each broker address.
	ServerName string
}

// SASL mechanisms Security supports.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

// SASL settings of the client connections.
type SASL struct {
	// Mechanism is SASLPlain, SASLScramSHA256 or SASLScramSHA512 (any
	// case); "" (the default) is no SASL. PLAIN sends the password itself:
	// use it only over TLS.
	Mechanism string
	// User and Password are required with a mechanism.
	User     string
	Password string
}

// String never shows the password: a SASL printed with %v or %+v is safe
// to log.
func (s SASL) String() string {
	if s.Mechanism == "" {
		return "no SASL"
	}
	pw := "none"
	if s.Password != "" {
		pw = "set"
	}
	return fmt.Sprintf("SASL %s as %q (password %s)", strings.ToUpper(s.Mechanism), s.User, pw)
}

// GoString is String, for %#v.
func (s SASL) GoString() string { return s.String() }

// String describes the settings for a log line, without secrets.
func (s Security) String() string {
	var parts []string
	if s.TLS.Enable {
		t := "TLS"
		var o []string
		if s.TLS.CAFile != "" {
			o = append(o, "CA "+s.TLS.CAFile)
		} else {
			o = append(o, "system CAs")
		}
		if s.TLS.CertFile != "" {
			o = append(o, "client certificate "+s.TLS.CertFile)
		}
		if s.TLS.ServerName != "" {
			o = append(o, "server name "+s.TLS.ServerName)
		}
		parts = append(parts, t+" ("+strings.Join(o, ", ")+")")
	} else {
		parts = append(parts, "plaintext")
	}
	parts = append(parts, s.SASL.String())
	return strings.Join(parts, ", ")
}

// A SecurityError is a Security that cannot be applied. Field names the
// setting as in Security ("TLS.CAFile", "SASL.Password"), so that a command
// line can name its own flag for it.
type SecurityError struct {
	Field  string
	Reason string
}

func (e *SecurityError) Error() string { return "kafka: " + e.Field + ": " + e.Reason }

// Apply validates s and writes it into c's Net.TLS and Net.SASL. It reads
// the certificate files now, so a missing or malformed file is an error
// here (a *SecurityError), not at the first connection. The zero Security
// leaves c as it is.
func (s Security) Apply(c *sarama.Config) error {
	tc, err := s.TLS.config()
	if err != nil {
		return err
	}
	if err := s.SASL.validate(); err != nil {
		return err
	}
	if tc != nil {
		c.Net.TLS.Enable = true
		c.Net.TLS.Config = tc
	}
	if s.SASL.Mechanism == "" {
		return nil
	}
	mech := strings.ToUpper(s.SASL.Mechanism)
	c.Net.SASL.Enable = true
	c.Net.SASL.Mechanism = sarama.SASLMechanism(mech)
	c.Net.SASL.User = s.SASL.User
	c.Net.SASL.Password = s.SASL.Password
	c.Net.SASL.Handshake = true
	c.Net.SASL.Version = sarama.SASLHandshakeV1
	switch mech {
	case SASLScramSHA256:
		c.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: scram.SHA256} }
	case SASLScramSHA512:
		c.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: scram.SHA512} }
	default:
		c.Net.SASL.SCRAMClientGeneratorFunc = nil
	}
	return nil
}

func (t TLS) config() (*tls.Config, error) {
	if !t.Enable {
		for _, f := range []struct{ name, v string }{
			{"TLS.CAFile", t.CAFile}, {"TLS.CertFile", t.CertFile}, {"TLS.KeyFile", t.KeyFile}, {"TLS.ServerName", t.ServerName},
		} {
			if f.v != "" {
				return nil, &SecurityError{f.name, "given, but TLS is not enabled"}
			}
		}
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, &SecurityError{"TLS.CAFile", err.Error()}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, &SecurityError{"TLS.CAFile", fmt.Sprintf("no PEM certificate in %s", t.CAFile)}
		}
		c.RootCAs = pool
	}
	switch {
	case t.CertFile != "" && t.KeyFile == "":
		return nil, &SecurityError{"TLS.KeyFile", "missing: the client certificate " + t.CertFile + " needs its private key"}
	case t.CertFile == "" && t.KeyFile != "":
		return nil, &SecurityError{"TLS.CertFile", "missing: the client key " + t.KeyFile + " needs its certificate"}
	case t.CertFile != "":
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, &SecurityError{"TLS.CertFile", fmt.Sprintf("client certificate %s with key %s: %v", t.CertFile, t.KeyFile, err)}
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

func (s SASL) validate() error {
	switch strings.ToUpper(s.Mechanism) {
	case "":
		if s.User != "" {
			return &SecurityError{"SASL.Mechanism", "missing: a SASL user is given"}
		}
		if s.Password != "" {
			return &SecurityError{"SASL.Mechanism", "missing: a SASL password is given"}
		}
		return nil
	case SASLPlain, SASLScramSHA256, SASLScramSHA512:
	default:
		return &SecurityError{"SASL.Mechanism", fmt.Sprintf("%q: want %s, %s or %s", s.Mechanism, SASLPlain, SASLScramSHA256, SASLScramSHA512)}
	}
	if s.User == "" {
		return &SecurityError{"SASL.User", "missing: SASL " + strings.ToUpper(s.Mechanism) + " needs a user"}
	}
	if s.Password == "" {
		return &SecurityError{"SASL.Password", "missing: SASL " + strings.ToUpper(s.Mechanism) + " needs a password"}
	}
	if strings.HasPrefix(strings.ToUpper(s.Mechanism), "SCRAM") {
		// SCRAM prepares names and passwords (SASLprep, RFC 4013); one it
		// cannot prepare would fail at every connection.
		if _, err := scram.SHA256.NewClient(s.User, "x", ""); err != nil {
			return &SecurityError{"SASL.User", "cannot be used with SCRAM: " + err.Error()}
		}
		if _, err := scram.SHA256.NewClient("x", s.Password, ""); err != nil {
			return &SecurityError{"SASL.Password", "cannot be used with SCRAM: " + err.Error()}
		}
	}
	return nil
}

// scramClient is sarama's SCRAMClient on github.com/xdg-go/scram, as in
// sarama's SCRAM example.
type scramClient struct {
	hash scram.HashGeneratorFcn
	conv *scram.ClientConversation
}

func (s *scramClient) Begin(user, password, authzID string) error {
	c, err := s.hash.NewClient(user, password, authzID)
	if err != nil {
		return err
	}
	s.conv = c.NewConversation()
	return nil
}

func (s *scramClient) Step(challenge string) (string, error) { return s.conv.Step(challenge) }

func (s *scramClient) Done() bool { return s.conv.Done() }
