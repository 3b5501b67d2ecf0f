package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"github.com/eventfold/eventfold/cluster"
	"github.com/eventfold/eventfold/interactive"
	"github.com/eventfold/eventfold/kafka"
)

// parse parses args into fs after applying EVENTFOLD_* environment variables,
// so flags given on the command line win. Flags may come before, between and
// after the positional arguments (`history orders order-42 --version 2`);
// "--" ends the flags, so a positional argument that starts with "-" goes
// after it. The positional arguments are fs.Args() afterwards.
func parse(fs *flag.FlagSet, args []string) error {
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := "EVENTFOLD_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok {
			if err := f.Value.Set(v); err != nil && envErr == nil {
				envErr = fmt.Errorf("%s=%q: %w", name, v, err)
			}
		}
	})
	if envErr != nil {
		return envErr
	}
	flags, positional := splitArgs(fs, args)
	if err := fs.Parse(flags); err != nil {
		return err
	}
	// flag stops at the first non-flag argument: parse the positional
	// arguments after a "--" so that they become fs.Args() as they are.
	return fs.Parse(append([]string{"--"}, positional...))
}

// splitArgs separates the flags of fs (with their values) from the
// positional arguments, by flag's own rules: a flag is an argument that
// starts with "-" (not "-" alone); it takes the next argument as its value
// unless it has "=value" or is a bool flag; "--" makes the rest positional.
// Unknown flags stay with the flags, for fs.Parse to report.
func splitArgs(fs *flag.FlagSet, args []string) (flags, positional []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return flags, append(positional, args[i+1:]...)
		case len(a) < 2 || a[0] != '-':
			positional = append(positional, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		if strings.Contains(name, "=") {
			continue
		}
		f := fs.Lookup(name)
		if f == nil {
			continue
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			continue
		}
		if i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	return flags, positional
}

// kafkaFlags are the flags every command that talks to Kafka shares.
type kafkaFlags struct {
	brokers     string
	app         string
	partitions  int
	replication int
	partitioner string
	version     string
	topicPrefix string
	session     time.Duration
	heartbeat   time.Duration
	security    securityFlags
	applied     kafka.Security // what sarama() applied, for the log
}

// securityFlags are the TLS and SASL settings of the Kafka clients. The
// SASL password comes from a file or from EVENTFOLD_KAFKA_SASL_PASSWORD,
// never from an argument: ps shows every process's arguments.
type securityFlags struct {
	tls          bool
	caFile       string
	certFile     string
	keyFile      string
	serverName   string
	mechanism    string
	user         string
	passwordFile string
}

// envSASLPassword holds the SASL password; it has no flag.
const envSASLPassword = "EVENTFOLD_KAFKA_SASL_PASSWORD"

func (s *securityFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&s.tls, "kafka-tls", false, "connect to the brokers over TLS, verifying their certificates (against --kafka-ca-file, or the system's CAs)")
	fs.StringVar(&s.caFile, "kafka-ca-file", "", "PEM file of the CA certificates the brokers' certificates must chain to (default: the system's CAs; needs --kafka-tls)")
	fs.StringVar(&s.certFile, "kafka-cert-file", "", "PEM client certificate, for brokers that require mutual TLS (with --kafka-key-file)")
	fs.StringVar(&s.keyFile, "kafka-key-file", "", "PEM private key of --kafka-cert-file")
	fs.StringVar(&s.serverName, "kafka-server-name", "", "name the brokers' certificates must carry (default: the host of each broker address)")
	fs.StringVar(&s.mechanism, "kafka-sasl-mechanism", "", "SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (default: no SASL); PLAIN sends the password itself, use it with --kafka-tls")
	fs.StringVar(&s.user, "kafka-sasl-user", "", "SASL user name")
	fs.StringVar(&s.passwordFile, "kafka-sasl-password-file", "", "file holding the SASL password (line breaks at its end are ignored); or set "+envSASLPassword+" (empty is unset). There is no password flag: ps shows arguments")
}

// flagOf names the flag of each kafka.Security field, for errors.
var flagOf = map[string]string{
	"TLS.Enable":     "--kafka-tls",
	"TLS.CAFile":     "--kafka-ca-file",
	"TLS.CertFile":   "--kafka-cert-file",
	"TLS.KeyFile":    "--kafka-key-file",
	"TLS.ServerName": "--kafka-server-name",
	"SASL.Mechanism": "--kafka-sasl-mechanism",
	"SASL.User":      "--kafka-sasl-user",
	"SASL.Password":  "--kafka-sasl-password-file or " + envSASLPassword,
}

// settings reads the password and returns the kafka.Security the flags
// describe.
func (s *securityFlags) settings() (kafka.Security, error) {
	sec := kafka.Security{
		TLS:  kafka.TLS{Enable: s.tls, CAFile: s.caFile, CertFile: s.certFile, KeyFile: s.keyFile, ServerName: s.serverName},
		SASL: kafka.SASL{Mechanism: s.mechanism, User: s.user},
	}
	pw, err := secretFrom("kafka-sasl-password-file", s.passwordFile, envSASLPassword)
	if err != nil {
		return kafka.Security{}, err
	}
	sec.SASL.Password = pw
	return sec, nil
}

// set reports whether any TLS or SASL setting is given (a flag, or a
// password in the environment).
func (s *securityFlags) set() bool {
	return *s != securityFlags{} || os.Getenv(envSASLPassword) != ""
}

// warning returns what the settings allow but should not, or "".
func (s *securityFlags) warning() string {
	if strings.EqualFold(s.mechanism, kafka.SASLPlain) && !s.tls {
		return "--kafka-sasl-mechanism PLAIN without --kafka-tls sends the SASL password to the brokers in the clear"
	}
	return ""
}

// apply writes the settings into c; an error names the flag to fix.
func (s *securityFlags) apply(c *sarama.Config) (kafka.Security, error) {
	sec, err := s.settings()
	if err != nil {
		return sec, err
	}
	if err := sec.Apply(c); err != nil {
		var se *kafka.SecurityError
		if errors.As(err, &se) && flagOf[se.Field] != "" {
			return sec, fmt.Errorf("%s: %s", flagOf[se.Field], se.Reason)
		}
		return sec, err
	}
	return sec, nil
}

// probeTimeout bounds the start-up check of the Kafka connection.
const probeTimeout = 15 * time.Second

// probe checks that the brokers answer with these settings (TLS, SASL)
// before a command relies on them, and names the flag behind a failure.
func (k *kafkaFlags) probe(ctx context.Context, c *sarama.Config) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	err := kafka.Probe(ctx, k.brokerList(), c)
	var ce *kafka.ConnectError
	if errors.As(err, &ce) && errors.Is(err, kafka.ErrUntrustedCertificate) {
		if k.security.caFile != "" {
			ce.Msg = fmt.Sprintf("kafka: TLS: the certificate of the broker at %s is not signed by the CA in --kafka-ca-file (%s)", ce.Broker, k.security.caFile)
		} else {
			ce.Msg = fmt.Sprintf("kafka: TLS: the certificate of the broker at %s is not signed by a CA this system trusts (give its CA with --kafka-ca-file)", ce.Broker)
		}
	}
	return err
}

func (k *kafkaFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&k.brokers, "brokers", "localhost:9092", "comma-separated Kafka bootstrap servers")
	fs.StringVar(&k.app, "app", cluster.DefaultApp, "application name: groups are <app>-<entity>, tables <app>-<entity>-table")
	fs.IntVar(&k.partitions, "partitions", 10, "partitions of topics eventfold creates (existing events topics keep theirs)")
	fs.IntVar(&k.replication, "replication", 0, "replication factor of created topics (0: min(3, brokers))")
	fs.StringVar(&k.partitioner, "partitioner", "fnv1a", "key hash of the producers: fnv1a (sarama, goka) or murmur2 (Java clients)")
	fs.StringVar(&k.version, "kafka-version", kafka.DefaultVersion.String(), "Kafka protocol version to speak (at least 2.1.0)")
	fs.StringVar(&k.topicPrefix, "topic-prefix", "", "prefix of the events topics (e.g. \"staging-\" gives staging-orders-events)")
	fs.DurationVar(&k.session, "session-timeout", 10*time.Second, "consumer group session timeout: how long a dead node keeps its partitions")
	fs.DurationVar(&k.heartbeat, "heartbeat-interval", 3*time.Second, "consumer group heartbeat interval (well below --session-timeout)")
	k.security.register(fs)
}

func (k *kafkaFlags) brokerList() []string { return splitList(k.brokers) }

// splitList splits a comma-separated flag value, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func (k *kafkaFlags) sarama() (*sarama.Config, kafka.Partitioner, error) {
	p, err := kafka.ParsePartitioner(k.partitioner)
	if err != nil {
		return nil, "", err
	}
	v, err := sarama.ParseKafkaVersion(k.version)
	if err != nil {
		return nil, "", fmt.Errorf("--kafka-version: %w", err)
	}
	c := kafka.NewConfig()
	c.Version = v
	c.Consumer.Group.Session.Timeout = k.session
	c.Consumer.Group.Heartbeat.Interval = k.heartbeat
	sec, err := k.security.apply(c)
	if err != nil {
		return nil, "", err
	}
	k.applied = sec
	if err := kafka.Validate(c); err != nil {
		return nil, "", err
	}
	return c, p, nil
}

// logFlags configure log/slog.
type logFlags struct {
	format string
	level  string
}

func (l *logFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&l.format, "log-format", "text", "log format: text or json")
	fs.StringVar(&l.level, "log-level", "info", "log level: debug, info, warn, error")
}

func (l *logFlags) logger(w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(l.level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch l.format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", l.format)
}

// clientFlags are for commands that talk to a node over HTTP.
type clientFlags struct {
	url       string
	caFile    string
	tokenFile string
	timeout   time.Duration
}

// client is a client of the node at --url, with the token from
// --token-file or EVENTFOLD_TOKEN.
func (c *clientFlags) client() (*interactive.Client, error) {
	t, err := secretFrom("token-file", c.tokenFile, envToken)
	if err != nil {
		return nil, err
	}
	cl := interactive.NewClient(c.url, t)
	if c.caFile != "" {
		pool, err := certPool("--ca-file", c.caFile)
		if err != nil {
			return nil, err
		}
		cl.WithTLS(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	}
	return cl, nil
}

func (c *clientFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.url, "url", "http://localhost:8080", "base URL of any eventfold node")
	fs.StringVar(&c.caFile, "ca-file", "", "CA (PEM) the node's HTTPS certificate is checked against (default: the system's roots)")
	fs.StringVar(&c.tokenFile, "token-file", "", "file holding the bearer token, if the node requires one; or set "+envToken+" (no token flag: ps shows arguments)")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "request timeout")
}
