package main

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"
)

// The benchmark with tiny parameters: it must stay runnable, error-free,
// and its scenarios must measure what they claim (Served-By).
func TestLookupBenchmark(t *testing.T) {
	for _, nodes := range []int{1, 2} {
		t.Run(map[int]string{1: "1node", 2: "2nodes"}[nodes], func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Nodes = nodes
			cfg.Partitions = 4
			cfg.Entities = 500
			cfg.EventsPerEntity = 2
			cfg.Concurrency = 4
			cfg.Duration = 400 * time.Millisecond
			cfg.Warmup = 50 * time.Millisecond
			cfg.DataDir = t.TempDir()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			var progress strings.Builder
			rep, err := Run(ctx, cfg, &progress)
			t.Log(progress.String())
			if err != nil {
				t.Fatal(err)
			}
			if rep.Present == 0 || rep.Present > rep.Loaded || rep.Loaded != cfg.Entities {
				t.Errorf("%d entities loaded, %d with state, want %d loaded", rep.Loaded, rep.Present, cfg.Entities)
			}
			if len(rep.Rounds) != 1 || len(rep.Rounds[0]) != len(allScenarios) {
				t.Fatalf("rounds = %d, want 1 with %d scenarios", len(rep.Rounds), len(allScenarios))
			}
			for _, s := range rep.Rounds[0] {
				if s.Scenario == scForwarded && nodes == 1 {
					if s.Skipped == "" {
						t.Errorf("forwarded ran on one node: %+v", s)
					}
					continue
				}
				if s.Skipped != "" {
					t.Errorf("%s skipped: %s", s.Scenario, s.Skipped)
					continue
				}
				if s.Errors != 0 || s.Requests() == 0 {
					t.Errorf("%s: %d requests, %d errors (first: %v)", s.Scenario, s.Requests(), s.Errors, s.FirstErr)
				}
				if s.WrongOwner != 0 || s.OwnershipChanges != 0 {
					t.Errorf("%s: %d answers by a non-owner, %d ownership changes", s.Scenario, s.WrongOwner, s.OwnershipChanges)
				}
				if !slices.IsSorted(s.Lat) || s.Quantile(0.5) > s.Quantile(0.99) || s.Quantile(0.99) > s.Max() {
					t.Errorf("%s: latencies out of order", s.Scenario)
				}
				switch s.Scenario {
				case scGet:
					if s.ServedAsked+s.ServedOther != 0 {
						t.Errorf("get counted HTTP answers")
					}
				case scLocal:
					if s.ServedOther != 0 || s.ServedAsked != s.Requests() {
						t.Errorf("local: %d answered by the node asked, %d by another", s.ServedAsked, s.ServedOther)
					}
				case scForwarded:
					if s.ServedAsked != 0 || s.ServedOther != s.Requests() {
						t.Errorf("forwarded: %d answered by the node asked, %d by another", s.ServedAsked, s.ServedOther)
					}
				case scMixed:
					if s.ServedAsked+s.ServedOther != s.Requests() {
						t.Errorf("mixed: %d + %d answers for %d requests", s.ServedAsked, s.ServedOther, s.Requests())
					}
					if nodes == 1 && s.ServedOther != 0 {
						t.Errorf("mixed on one node: %d forwarded", s.ServedOther)
					}
					if f := s.ForwardedShare(); nodes == 2 && (f < 0.2 || f > 0.8) {
						t.Errorf("mixed on two nodes: %.0f%% forwarded, want about half", 100*f)
					}
				}
			}

			var out strings.Builder
			rep.WriteMarkdown(&out)
			md := out.String()
			t.Log("\n" + md)
			for _, want := range []string{
				"| scenario | requests | req/s | p50 | p90 | p99 | p999 | max | errors | other procs (cores) |",
				"| " + scenarioLabel[scGet] + " | ",
				"| " + scenarioLabel[scLocal] + " | ",
				"| " + scenarioLabel[scForwarded] + " | ",
				"| " + scenarioLabel[scMixed] + " | ",
				"machine: ", "go: go", "date: ",
			} {
				if !strings.Contains(md, want) {
					t.Errorf("report lacks %q", want)
				}
			}
			if nodes == 2 && !strings.Contains(md, "Target forwarded p99") {
				t.Errorf("report lacks the forwarded target line")
			}
		})
	}
}

func TestQuantileAndMedian(t *testing.T) {
	s := &Stats{}
	for i := 1; i <= 1000; i++ {
		s.Lat = append(s.Lat, time.Duration(i))
	}
	for q, want := range map[float64]time.Duration{0.5: 500, 0.9: 900, 0.99: 990, 0.999: 999, 1: 1000} {
		if got := s.Quantile(q); got != want {
			t.Errorf("Quantile(%v) = %v, want %v", q, got, want)
		}
	}
	if m := median([]int{3, 1, 2}); m != 2 {
		t.Errorf("median = %d", m)
	}
	if m := median([]time.Duration{4, 1, 3, 2}); m != 2 {
		t.Errorf("median of four = %d, want the lower middle", m)
	}
}
