package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"time"
)

type clusterView struct {
	Self     struct{ ID string }   `json:"self"`
	Members  []struct{ ID string } `json:"members"`
	Entities map[string]struct {
		Partitions int32             `json:"partitions"`
		Stable     bool              `json:"stable"`
		Owners     map[string]string `json:"owners"`
	} `json:"entities"`
}

func clusterSettled(c *http.Client, nodes []*child, n int) (bool, string) {
	var first map[string]string
	for _, ch := range nodes {
		if _, ok := ch.Mark("ready"); !ok {
			return false, ch.name + " not ready"
		}
		u := ch.URL()
		resp, err := c.Get(u + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false, ch.name + " /readyz " + resp.Status
		}
		var cv clusterView
		resp, err = c.Get(u + "/v1/cluster")
		if err != nil {
			return false, err.Error()
		}
		err = json.NewDecoder(resp.Body).Decode(&cv)
		resp.Body.Close()
		if err != nil {
			return false, err.Error()
		}
		l := cv.Entities["orders"]
		if len(cv.Members) != n || !l.Stable || int32(len(l.Owners)) != l.Partitions || l.Partitions == 0 {
			return false, fmt.Sprintf("%s sees %d members, stable=%v, %d of %d partitions owned", ch.name, len(cv.Members), l.Stable, len(l.Owners), l.Partitions)
		}
		if first == nil {
			first = l.Owners
		} else if !reflect.DeepEqual(first, l.Owners) {
			return false, "nodes disagree on owners"
		}
	}
	return true, ""
}

// lookupResult is one load run (the load binary's JSON).
type lookupResult struct {
	Scenario    string  `json:"scenario"`
	Nodes       int     `json:"nodes"`
	Concurrency int     `json:"concurrency"`
	Seconds     float64 `json:"seconds"`
	Requests    int     `json:"requests"`
	NotFound    int     `json:"not_found"`
	Errors      int     `json:"errors"`
	FirstError  string  `json:"first_error"`
	RPS         float64 `json:"rps"`
	P50         float64 `json:"p50_ms"`
	P90         float64 `json:"p90_ms"`
	P99         float64 `json:"p99_ms"`
	P999        float64 `json:"p999_ms"`
	Max         float64 `json:"max_ms"`
	ServedAsked int     `json:"served_asked"`
	ServedOther int     `json:"served_other"`
	Skipped     string  `json:"skipped"`
	NodeCPU     time.Duration
	Err         string
}

func (l lookupResult) ForwardedShare() float64 {
	if t := l.ServedAsked + l.ServedOther; t > 0 {
		return float64(l.ServedOther) / float64(t)
	}
	return 0
}

func (e *env) lookups(ctx context.Context) {
	nodes := e.kept
	run := func(scenario string, conc int) {
		if ctx.Err() != nil {
			return
		}
		var urls []string
		for _, n := range nodes {
			urls = append(urls, n.URL())
		}
		cpu0 := nodesCPU(nodes)
		cmd := exec.CommandContext(ctx, filepath.Join(e.cfg.bin, "load"), "-urls", strings.Join(urls, ","),
			"-scenario", scenario, "-concurrency", itoa(conc), "-entities", itoa(e.cfg.entities),
			"-duration", e.cfg.lookupDuration.String(), "-warmup", e.cfg.lookupWarmup.String())
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		r := lookupResult{Scenario: scenario, Nodes: len(nodes), Concurrency: conc}
		if err := cmd.Run(); err != nil {
			r.Err = fmt.Sprintf("%v: %s", err, strings.TrimSpace(errb.String()))
		} else if err := json.Unmarshal(out.Bytes(), &r); err != nil {
			r.Err = err.Error()
		}
		r.NodeCPU = nodesCPU(nodes) - cpu0
		e.rep.Lookups = append(e.rep.Lookups, r)
		if r.Err != "" {
			logf("lookup: %d node(s) %s c=%d: %s", len(nodes), scenario, conc, r.Err)
			return
		}
		logf("lookup: %d node(s) %s c=%d: %.0f req/s, p50 %.3f ms, p99 %.3f ms, p99.9 %.3f ms, forwarded %.0f%%, errors %d",
			len(nodes), scenario, conc, r.RPS, r.P50, r.P99, r.P999, 100*r.ForwardedShare(), r.Errors)
	}
	if err := waitCluster(ctx, nodes, 1, 2*time.Minute); err != nil {
		e.rep.LookupErr = err.Error()
		logf("lookup: %v", err)
		return
	}
	run("local", 1)
	run("local", 8)

	// Two more nodes of the same application: they take partitions over
	// and restore them from the changelog.
	s := e.specs["eventfold"]
	for i := 1; i <= 2; i++ {
		dir := e.dir(fmt.Sprintf("state-lookup-n%d", i+1))
		argv := s.argv(i, dir)
		ch, err := startChild(fmt.Sprintf("lookup-n%d", i+1), filepath.Join(e.cfg.work, "logs", fmt.Sprintf("lookup-n%d.log", i+1)), argv...)
		if err != nil {
			e.rep.LookupErr = err.Error()
			return
		}
		e.kept = append(e.kept, ch)
	}
	nodes = e.kept
	start := time.Now()
	if err := waitCluster(ctx, nodes, 3, 5*time.Minute); err != nil {
		e.rep.LookupErr = err.Error()
		logf("lookup: %v", err)
		return
	}
	e.rep.Settle3 = time.Since(start)
	logf("lookup: 3 nodes settled in %.1fs", e.rep.Settle3.Seconds())
	run("local", 1)
	run("forwarded", 1)
	run("local", 8)
	run("forwarded", 8)
	run("mixed", 8)
}

func nodesCPU(nodes []*child) time.Duration {
	var d time.Duration
	for _, n := range nodes {
		d += n.usage().CPU
	}
	return d
}
