package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"github.com/eventfold/eventfold/cluster"
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
}

func (k *kafkaFlags) brokerList() []string {
	var out []string
	for _, b := range strings.Split(k.brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
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
	url     string
	token   string
	timeout time.Duration
}

func (c *clientFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.url, "url", "http://localhost:8080", "base URL of any eventfold node")
	fs.StringVar(&c.token, "token", "", "bearer token, if the node requires one")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "request timeout")
}
