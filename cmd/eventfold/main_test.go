package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/eventfold/eventfold"
	"github.com/eventfold/eventfold/eventfoldtest"
	"github.com/eventfold/eventfold/interactive"
)

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startDev runs `eventfold dev` (what `make run` starts) on free ports until
// the test ends, and waits until it has folded its seed data (order-42 at
// version 3). It returns the node's URL and the in-process broker.
func startDev(t *testing.T) (url, brokers string) {
	t.Helper()
	httpPort, kafkaPort := freePort(t), freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"dev", "--http", fmt.Sprintf(":%d", httpPort), "--kafka-port", fmt.Sprint(kafkaPort),
			"--seed-entities", "20", "--seed-events", "100", "--log-level", "error"})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("dev: %v", err)
		}
	})
	url = fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	cl := interactive.NewClient(url, "")
	eventfoldtest.Eventually(t, 60*time.Second, func() error {
		a, err := cl.Get(context.Background(), "orders", "order-42")
		if err != nil {
			return err
		}
		if a.Version != 3 {
			return fmt.Errorf("order-42 at version %d", a.Version)
		}
		// The projections follow the entities: order-42's customer and
		// the demo's roles are there too.
		if _, err := cl.Projection(context.Background(), "customer-orders", "user-000001"); err != nil {
			return err
		}
		_, err = cl.Projection(context.Background(), "users-by-role", "admin")
		return err
	})
	return url, fmt.Sprintf("127.0.0.1:%d", kafkaPort)
}

// dev mode end to end: the in-process broker, the node, the seed data, and
// the CLI commands against it.
func TestDevModeAndCLI(t *testing.T) {
	url, brokers := startDev(t)
	ctx := context.Background()

	if err := run(ctx, []string{"emit", "--url", url, "orders", "order-42", `{"type":"OrderApproved","approved_by":"test"}`}); err != nil {
		t.Fatalf("emit: %v", err)
	}
	eventfoldtest.Eventually(t, 10*time.Second, func() error {
		return run(ctx, []string{"get", "--url", url, "orders", "order-42"})
	})
	if err := run(ctx, []string{"get", "--url", url, "orders", "no-such-order"}); !errors.Is(err, eventfold.ErrNotFound) {
		t.Errorf("get missing = %v, want ErrNotFound", err)
	}
	if err := run(ctx, []string{"emit", "--url", url, "orders", "o", `{"type":"Nope"}`}); !errors.Is(err, eventfold.ErrInvalid) {
		t.Errorf("emit unknown type = %v, want ErrInvalid", err)
	}
	// The topics the node created pass verification.
	if err := run(ctx, []string{"topics", "--brokers", brokers}); err != nil {
		t.Errorf("topics: %v", err)
	}
	resp, err := http.Get(url + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("readyz: %v %v", resp, err)
	}
}

func TestFlagsFromEnvironment(t *testing.T) {
	t.Setenv("EVENTFOLD_DATA_DIR", "/from/env")
	t.Setenv("EVENTFOLD_HOT_STANDBY", "true")
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var f serveFlags
	f.register(fs)
	if err := parse(fs, []string{"--http", ":9999"}); err != nil {
		t.Fatal(err)
	}
	if f.dataDir != "/from/env" || !f.hotStandby || f.httpAddr != ":9999" {
		t.Errorf("flags = %+v", f)
	}
	// A flag beats the environment.
	fs = flag.NewFlagSet("serve", flag.ContinueOnError)
	f = serveFlags{}
	f.register(fs)
	if err := parse(fs, []string{"--data-dir", "/from/flag"}); err != nil || f.dataDir != "/from/flag" {
		t.Errorf("data dir = %q, %v", f.dataDir, err)
	}
	t.Setenv("EVENTFOLD_PARTITIONS", "many")
	fs = flag.NewFlagSet("serve", flag.ContinueOnError)
	f.register(fs)
	if err := parse(fs, nil); err == nil {
		t.Error("bad EVENTFOLD_PARTITIONS accepted")
	}
	for _, bad := range [][]string{{"--partitioner", "crc"}, {"--kafka-version", "0.10.0"}, {"--log-format", "xml"}} {
		fs = flag.NewFlagSet("serve", flag.ContinueOnError)
		f = serveFlags{}
		f.register(fs)
		t.Setenv("EVENTFOLD_PARTITIONS", "10")
		if err := parse(fs, bad); err != nil {
			t.Fatal(err)
		}
		if _, err := f.config(); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
