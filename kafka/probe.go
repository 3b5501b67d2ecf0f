package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/IBM/sarama"
)

// Kinds of ConnectError; errors.Is(err, kind) tells them apart.
var (
	// ErrSASLAuthentication: the broker refused the SASL user, password or
	// mechanism.
	ErrSASLAuthentication = errors.New("kafka: SASL authentication failed")
	// ErrUntrustedCertificate: the broker's certificate does not chain to
	// a CA the client trusts. It is also an ErrTLS.
	ErrUntrustedCertificate = errors.New("kafka: TLS: the broker's certificate is not trusted")
	// ErrTLS: the TLS handshake failed (any reason).
	ErrTLS = errors.New("kafka: TLS handshake failed")
	// ErrUnreachable: no broker answered, or each closed the connection.
	ErrUnreachable = errors.New("kafka: no broker answered")
)

// A ConnectError says why Probe could not talk to the brokers, in words
// that point at the setting to fix.
type ConnectError struct {
	Broker string // the address that failed this way
	Kind   error  // ErrSASLAuthentication, ErrUntrustedCertificate, ErrTLS or ErrUnreachable
	Msg    string // what to check; a command line may reword it with its flag names
	Err    error  // what sarama or crypto/tls said

	closed bool // the broker closed the connection
}

func (e *ConnectError) Error() string { return e.Msg + ": " + e.Err.Error() }

func (e *ConnectError) Unwrap() error { return e.Err }

func (e *ConnectError) Is(target error) bool {
	return target == e.Kind || (target == ErrTLS && e.Kind == ErrUntrustedCertificate)
}

// final reports whether a retry cannot mend the error.
func (e *ConnectError) final() bool { return e.Kind != ErrUnreachable }

// closed reports whether the broker closed the connection: what a listener
// of another security protocol does (a TLS listener with a plaintext
// client, a SASL one without SASL).
func closed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)
}

// closedRounds is how many rounds in a row every broker may close the
// connection before Probe gives up: a broker that is shutting down closes
// connections too, but not for long.
const closedRounds = 4

// probeAttempt bounds one connection attempt (dial, TLS, SASL, metadata).
const probeAttempt = 10 * time.Second

// Probe opens one connection to each bootstrap broker with c (its TLS and
// SASL settings included), and asks for the cluster metadata. It returns
// nil as soon as one broker answers. Errors no retry can mend (SASL
// authentication, TLS verification) are returned at once, as a
// *ConnectError that names the cause; so is a connection every broker
// closes four times in a row (a listener that wants TLS or SASL, or does
// not). While no broker is reachable, Probe tries again every half second
// until ctx ends, then returns the last error. Callers bound ctx: cmd/eventfold gives it 15 s before a node
// starts, so that a wrong password or an untrusted certificate stops the
// node with that message instead of a client retrying forever.
func Probe(ctx context.Context, brokers []string, c *sarama.Config) error {
	if len(brokers) == 0 {
		return errors.New("kafka: no brokers given")
	}
	if err := Copy(c, "").Validate(); err != nil {
		return err
	}
	var last error
	closedInARow := 0
	for {
		attempt := probeAttempt
		if d, ok := ctx.Deadline(); ok {
			attempt = min(attempt, max(time.Until(d), 100*time.Millisecond))
		}
		// A copy per round: connections of an earlier round may still be
		// closing and reading theirs.
		cfg := Copy(c, "eventfold-probe")
		cfg.Net.DialTimeout, cfg.Net.ReadTimeout, cfg.Net.WriteTimeout = attempt, attempt, attempt
		err := probeOnce(ctx, brokers, cfg)
		if err == nil {
			return nil
		}
		last = err
		var ce *ConnectError
		if errors.As(err, &ce) && ce.final() {
			return err
		}
		if ce != nil && ce.closed {
			closedInARow++
			if closedInARow >= closedRounds {
				return err
			}
		} else {
			closedInARow = 0
		}
		select {
		case <-ctx.Done():
			return last
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// probeOnce tries every broker at once: nil if one answered, else the
// most telling error (a final one before an unreachable one).
func probeOnce(ctx context.Context, brokers []string, cfg *sarama.Config) error {
	results := make(chan error, len(brokers))
	for _, addr := range brokers {
		go func() { results <- probeBroker(addr, cfg) }()
	}
	var first error
	for range brokers {
		select {
		case <-ctx.Done():
			if first == nil {
				first = &ConnectError{Broker: strings.Join(brokers, ","), Kind: ErrUnreachable,
					Msg: "kafka: no broker of " + strings.Join(brokers, ",") + " answered in time", Err: ctx.Err()}
			}
			return first
		case err := <-results:
			if err == nil {
				return nil
			}
			var ce *ConnectError
			if first == nil || (errors.As(err, &ce) && ce.final()) {
				first = err
			}
		}
	}
	return first
}

func probeBroker(addr string, cfg *sarama.Config) error {
	b := sarama.NewBroker(addr)
	if err := b.Open(cfg); err != nil {
		return classify(addr, cfg, err)
	}
	defer b.Close()
	// Connected waits for Open's dial, TLS handshake and SASL exchange.
	if _, err := b.Connected(); err != nil {
		return classify(addr, cfg, err)
	}
	if _, err := b.GetMetadata(sarama.NewMetadataRequest(cfg.Version, nil)); err != nil {
		return classify(addr, cfg, err)
	}
	return nil
}

// classify turns a connection error into a ConnectError that says which
// setting is wrong.
func classify(addr string, cfg *sarama.Config, err error) error {
	ce := &ConnectError{Broker: addr, Err: err}
	mech := string(cfg.Net.SASL.Mechanism)
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		header    tls.RecordHeaderError
		remote    *net.OpError
		dial      *net.OpError
	)
	switch {
	case errors.Is(err, sarama.ErrSASLAuthenticationFailed):
		ce.Kind = ErrSASLAuthentication
		ce.Msg = fmt.Sprintf("kafka: SASL authentication failed for user %q (mechanism %s) at %s", cfg.Net.SASL.User, mech, addr)
	case errors.Is(err, sarama.ErrUnsupportedSASLMechanism):
		ce.Kind = ErrSASLAuthentication
		ce.Msg = fmt.Sprintf("kafka: SASL: the broker at %s does not enable mechanism %s", addr, mech)
	case errors.Is(err, sarama.ErrIllegalSASLState):
		ce.Kind = ErrSASLAuthentication
		ce.Msg = fmt.Sprintf("kafka: SASL handshake with %s failed (is SASL enabled on that listener?)", addr)
	case errors.As(err, &unknownCA):
		ce.Kind = ErrUntrustedCertificate
		trust := "a CA this system trusts"
		if cfg.Net.TLS.Config != nil && cfg.Net.TLS.Config.RootCAs != nil {
			trust = "the configured CA"
		}
		ce.Msg = fmt.Sprintf("kafka: TLS: the certificate of the broker at %s is not signed by %s", addr, trust)
	case errors.As(err, &hostname):
		ce.Kind = ErrTLS
		ce.Msg = fmt.Sprintf("kafka: TLS: the certificate of the broker at %s is not valid for the name %q (set the server name the certificate carries)", addr, hostname.Host)
	case errors.As(err, &invalid):
		ce.Kind = ErrTLS
		ce.Msg = fmt.Sprintf("kafka: TLS: the certificate of the broker at %s is not valid", addr)
	case errors.As(err, &remote) && remote.Op == "remote error":
		// A TLS alert from the broker (crypto/tls keeps the alert type
		// unexported): with TLS 1.3 a refused client certificate shows
		// here, at the first read after the handshake.
		ce.Kind = ErrTLS
		switch {
		case !strings.Contains(remote.Err.Error(), "certificate"):
			ce.Msg = fmt.Sprintf("kafka: TLS: the broker at %s ended the handshake", addr)
		case cfg.Net.TLS.Config == nil || len(cfg.Net.TLS.Config.Certificates) == 0:
			ce.Msg = fmt.Sprintf("kafka: TLS: the broker at %s requires a client certificate (mutual TLS)", addr)
		default:
			ce.Msg = fmt.Sprintf("kafka: TLS: the broker at %s refused the client certificate", addr)
		}
	case errors.As(err, &header):
		ce.Kind = ErrTLS
		ce.Msg = fmt.Sprintf("kafka: TLS: %s does not answer in TLS (a plaintext listener?)", addr)
	case closed(err):
		ce.Kind = ErrUnreachable
		ce.closed = true
		if cfg.Net.TLS.Enable {
			ce.Msg = fmt.Sprintf("kafka: %s closed the connection (is it a TLS listener? does it want SASL?)", addr)
		} else {
			ce.Msg = fmt.Sprintf("kafka: %s closed the connection (does that listener want TLS, or SASL?)", addr)
		}
	case errors.As(err, &dial) && dial.Op == "dial":
		ce.Kind = ErrUnreachable
		ce.Msg = fmt.Sprintf("kafka: cannot reach %s", addr)
	default:
		var cerr sarama.ConfigurationError
		if errors.As(err, &cerr) {
			return err
		}
		ce.Kind = ErrUnreachable
		ce.Msg = fmt.Sprintf("kafka: %s did not answer", addr)
	}
	return ce
}
