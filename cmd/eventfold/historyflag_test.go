package main

import (
	"flag"
	"testing"

	"github.com/eventfold/eventfold/limits"
	"github.com/eventfold/eventfold/node"
)

// --history-page-bytes (or EVENTFOLD_HISTORY_PAGE_BYTES) reaches the node
// configuration; its default is limits.HistoryPageBytes; below 1 it is
// refused before the node starts.
// serveConfig is the node configuration serve makes of args.
func serveConfig(t *testing.T, args ...string) (node.Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var f serveFlags
	f.register(fs)
	if err := parse(fs, args); err != nil {
		t.Fatal(err)
	}
	return f.config()
}

func TestHistoryPageBytesFlag(t *testing.T) {
	config := func(args ...string) (int, error) {
		cfg, err := serveConfig(t, args...)
		return cfg.HistoryPageBytes, err
	}
	if n, err := config(); n != limits.HistoryPageBytes || err != nil {
		t.Errorf("default: %d, %v", n, err)
	}
	if n, err := config("--history-page-bytes", "65536"); n != 65536 || err != nil {
		t.Errorf("--history-page-bytes 65536: %d, %v", n, err)
	}
	t.Setenv("EVENTFOLD_HISTORY_PAGE_BYTES", "1024")
	if n, err := config(); n != 1024 || err != nil {
		t.Errorf("EVENTFOLD_HISTORY_PAGE_BYTES=1024: %d, %v", n, err)
	}
	for _, bad := range []string{"0", "-5"} {
		if _, err := config("--history-page-bytes", bad); err == nil {
			t.Errorf("--history-page-bytes %s accepted", bad)
		}
	}
}

// --projections: the demo projections on (the default) or off; anything
// else is refused before the node starts.
func TestProjectionsFlag(t *testing.T) {
	config := func(args ...string) (int, error) {
		cfg, err := serveConfig(t, args...)
		return len(cfg.Projections), err
	}
	for args, want := range map[string]int{"": 2, "all": 2, "none": 0} {
		var a []string
		if args != "" {
			a = []string{"--projections", args}
		}
		if n, err := config(a...); n != want || err != nil {
			t.Errorf("--projections %q: %d projections, %v; want %d", args, n, err, want)
		}
	}
	if _, err := config("--projections", "some"); err == nil {
		t.Error("--projections some accepted")
	}
}
