package deploy_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eventfold/eventfold/demo"
	"github.com/eventfold/eventfold/eventfoldtest"
	"github.com/eventfold/eventfold/kafka"
	"github.com/eventfold/eventfold/node"
	"github.com/eventfold/eventfold/subscriber"
)

const (
	alertsFile    = "prometheus/alerts.yml"
	dashboardFile = "grafana/dashboards/eventfold.json"
	datasourceDir = "grafana/provisioning/datasources"
)

// prometheusMetrics are made by Prometheus itself, not exported by a node.
var prometheusMetrics = []string{"up"}

// targetLabels are attached by Prometheus to every scraped series.
var targetLabels = []string{"job", "instance"}

// The alerts docs/production.md explains; each must exist.
var requiredAlerts = []string{
	"ConsumerLagGrowing", "ConsumerLagHigh", "DeadLettersNonZero", "PartitionWithoutOwner",
	"NodeDown", "NodeAbsent", "HighLookupLatency", "SubscriberLagGrowing",
}

// promExpr is one PromQL expression and where it comes from.
type promExpr struct {
	where  string
	expr   string
	legend string // Grafana legend format, if any
}

func readAlerts(t *testing.T) []promExpr {
	t.Helper()
	doc := readYAML1(t, alertsFile)
	var out []promExpr
	names := map[string]bool{}
	for _, g := range l(doc["groups"]) {
		if s(at(g, "name")) == "" {
			t.Errorf("%s: a group without a name", alertsFile)
		}
		for _, r := range l(at(g, "rules")) {
			name := s(at(r, "alert"))
			where := alertsFile + " " + name
			if name == "" {
				t.Errorf("%s: a rule without an alert name (recording rules do not belong here)", alertsFile)
				continue
			}
			if names[name] {
				t.Errorf("%s: alert %s defined twice", alertsFile, name)
			}
			names[name] = true
			if sev := s(at(r, "labels", "severity")); sev != "warning" && sev != "critical" {
				t.Errorf("%s: severity %q, want warning or critical", where, sev)
			}
			for _, a := range []string{"summary", "description"} {
				if s(at(r, "annotations", a)) == "" {
					t.Errorf("%s: no %s annotation", where, a)
				}
			}
			if f := s(at(r, "for")); f != "" {
				if _, err := time.ParseDuration(f); err != nil {
					t.Errorf("%s: for %q: %v", where, f, err)
				}
			}
			out = append(out, promExpr{where: where, expr: s(at(r, "expr"))})
		}
	}
	for _, a := range requiredAlerts {
		if !names[a] {
			t.Errorf("%s: no alert %s", alertsFile, a)
		}
	}
	return out
}

var (
	grafanaVarRE = regexp.MustCompile(`\$\{?([a-zA-Z_][a-zA-Z0-9_]*)`)
	legendRE     = regexp.MustCompile(`\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}`)
)

// readDashboard checks the dashboard's structure and returns its queries.
func readDashboard(t *testing.T) []promExpr {
	t.Helper()
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if s(d["uid"]) == "" || s(d["title"]) == "" {
		t.Errorf("%s: no uid or title", dashboardFile)
	}

	// Datasources the dashboard may use: provisioned uids, or its variable.
	dsUIDs := []string{}
	files, _ := filepath.Glob(filepath.Join(datasourceDir, "*.yml"))
	for _, f := range files {
		for _, ds := range l(readYAML1(t, f)["datasources"]) {
			dsUIDs = append(dsUIDs, s(at(ds, "uid")))
		}
	}
	vars := map[string]bool{"__rate_interval": true, "__interval": true, "__range": true}
	var out []promExpr
	for _, v := range l(at(d, "templating", "list")) {
		name := s(at(v, "name"))
		vars[name] = true
		switch s(at(v, "type")) {
		case "datasource":
			if s(at(v, "query")) != "prometheus" {
				t.Errorf("%s: variable %s is not a Prometheus datasource", dashboardFile, name)
			}
			dsUIDs = append(dsUIDs, "${"+name+"}")
		case "query":
			q := s(at(v, "query", "query"))
			if q == "" {
				q = s(at(v, "query"))
			}
			mm := labelValuesRE.FindStringSubmatch(q)
			if mm == nil {
				t.Errorf("%s: variable %s: query %q is not label_values(selector, label)", dashboardFile, name, q)
				continue
			}
			out = append(out, promExpr{where: dashboardFile + " variable " + name, expr: mm[1], legend: "{{" + mm[2] + "}}"})
		}
	}
	checkDS := func(where string, ds any) {
		if ds == nil {
			return
		}
		if s(at(ds, "type")) != "prometheus" || !slices.Contains(dsUIDs, s(at(ds, "uid"))) {
			t.Errorf("%s: datasource %v is neither provisioned (%q) nor the datasource variable", where, ds, dsUIDs)
		}
	}
	for _, v := range l(at(d, "templating", "list")) {
		if s(at(v, "type")) == "query" {
			checkDS(dashboardFile+" variable "+s(at(v, "name")), at(v, "datasource"))
		}
	}

	ids := map[int]bool{}
	var panels []any
	for _, p := range l(d["panels"]) {
		panels = append(panels, p)
		panels = append(panels, l(at(p, "panels"))...) // collapsed rows
	}
	queries := 0
	for _, p := range panels {
		title := s(at(p, "title"))
		where := fmt.Sprintf("%s panel %q", dashboardFile, title)
		id, ok := at(p, "id").(float64)
		if !ok || ids[int(id)] {
			t.Errorf("%s: missing or duplicate id %v", where, at(p, "id"))
		}
		ids[int(id)] = true
		gp := m(at(p, "gridPos"))
		w, _ := gp["w"].(float64)
		x, _ := gp["x"].(float64)
		if gp == nil || w <= 0 || x+w > 24 {
			t.Errorf("%s: gridPos %v outside the 24 columns", where, gp)
		}
		if s(at(p, "type")) == "row" {
			continue
		}
		if title == "" {
			t.Errorf("%s panel with id %v has no title", dashboardFile, at(p, "id"))
		}
		checkDS(where, at(p, "datasource"))
		targets := l(at(p, "targets"))
		if len(targets) == 0 {
			t.Errorf("%s: no queries", where)
		}
		refIDs := map[string]bool{}
		for _, tg := range targets {
			ref := s(at(tg, "refId"))
			if ref == "" || refIDs[ref] {
				t.Errorf("%s: missing or duplicate refId %q", where, ref)
			}
			refIDs[ref] = true
			checkDS(where, at(tg, "datasource"))
			expr := s(at(tg, "expr"))
			if expr == "" {
				t.Errorf("%s: query %s has no expr", where, ref)
				continue
			}
			for _, v := range grafanaVarRE.FindAllStringSubmatch(expr, -1) {
				if !vars[v[1]] {
					t.Errorf("%s: query %s uses $%s, which is not a variable", where, ref, v[1])
				}
			}
			out = append(out, promExpr{where: where + " query " + ref, expr: expr, legend: s(at(tg, "legendFormat"))})
			queries++
		}
	}
	if queries < 10 {
		t.Errorf("%s: only %d queries", dashboardFile, queries)
	}
	return out
}

// scrape is one /metrics page: sample names with their label names and
// label values, and the family types.
type scrape struct {
	types   map[string]string
	samples map[string]map[string][]string // sample name → label → values
}

var labelRE = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

func parseScrape(r io.Reader, into *scrape) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			f := strings.Fields(rest)
			if len(f) == 2 {
				into.types[f[0]] = f[1]
			}
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		end := strings.IndexAny(line, "{ ")
		if end < 0 {
			return fmt.Errorf("bad sample line %q", line)
		}
		name := line[:end]
		labels := into.samples[name]
		if labels == nil {
			labels = map[string][]string{}
			into.samples[name] = labels
		}
		if line[end] == '{' {
			close := strings.LastIndexByte(line, '}')
			for _, mm := range labelRE.FindAllStringSubmatch(line[end+1:close], -1) {
				if !slices.Contains(labels[mm[1]], mm[2]) {
					labels[mm[1]] = append(labels[mm[1]], mm[2])
				}
			}
		}
	}
	return sc.Err()
}

// family is the metric family a sample name belongs to.
func (sc scrape) family(sample string) string {
	if _, ok := sc.types[sample]; ok {
		return sample
	}
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(sample, suf); ok {
			if typ := sc.types[base]; typ == "histogram" || (typ == "summary" && suf != "_bucket") {
				return base
			}
		}
	}
	return ""
}

// checkExprs checks the expressions against a scrape: every metric they
// name is exported (histograms by their _bucket/_sum/_count series), every
// label they match on or group by exists on the metrics they use, and
// route label values are routes the node has served. It returns the
// problems found.
func checkExprs(exprs []promExpr, sc scrape) []string {
	var problems []string
	for _, e := range exprs {
		refs, err := parsePromQL(e.expr)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", e.where, err))
			continue
		}
		if len(refs.selectors) == 0 {
			problems = append(problems, fmt.Sprintf("%s: %q uses no metric", e.where, e.expr))
		}
		available := slices.Clone(targetLabels)
		for _, sel := range refs.selectors {
			if slices.Contains(prometheusMetrics, sel.metric) {
				continue
			}
			labels, ok := sc.samples[sel.metric]
			if !ok || sc.family(sel.metric) == "" {
				problems = append(problems, fmt.Sprintf("%s: metric %s is not exported by the node", e.where, sel.metric))
				continue
			}
			for l := range labels {
				available = append(available, l)
			}
			for _, mt := range sel.matchers {
				if slices.Contains(targetLabels, mt.name) {
					continue
				}
				vals, ok := labels[mt.name]
				if !ok {
					problems = append(problems, fmt.Sprintf("%s: %s has no label %s", e.where, sel.metric, mt.name))
					continue
				}
				if mt.op == "=" && mt.name == "route" && !slices.Contains(vals, mt.value) {
					problems = append(problems, fmt.Sprintf("%s: %s{route=%q}: the node serves no such route (seen: %q)", e.where, sel.metric, mt.value, vals))
				}
			}
		}
		for _, g := range refs.grouping {
			if !slices.Contains(available, g) {
				problems = append(problems, fmt.Sprintf("%s: groups by %s, which none of its metrics has", e.where, g))
			}
		}
		for _, mm := range legendRE.FindAllStringSubmatch(e.legend, -1) {
			if !slices.Contains(available, mm[1]) {
				problems = append(problems, fmt.Sprintf("%s: legend uses {{%s}}, which none of its metrics has", e.where, mm[1]))
			}
		}
	}
	return problems
}

func TestAlertsAndDashboardStructure(t *testing.T) {
	exprs := append(readAlerts(t), readDashboard(t)...)
	// Every job they select is a job prometheus.yml defines.
	jobs := []string{}
	for _, sc := range l(readYAML1(t, "prometheus/prometheus.yml")["scrape_configs"]) {
		jobs = append(jobs, s(at(sc, "job_name")))
	}
	for _, e := range exprs {
		refs, err := parsePromQL(e.expr)
		if err != nil {
			t.Errorf("%s: %v", e.where, err)
			continue
		}
		for _, sel := range refs.selectors {
			for _, mt := range sel.matchers {
				if mt.name == "job" && mt.op == "=" && !slices.Contains(jobs, mt.value) {
					t.Errorf("%s: job %q is not scraped by prometheus.yml (%q)", e.where, mt.value, jobs)
				}
			}
		}
	}
}

// TestMetricsExported starts two real nodes on an in-process Kafka, makes
// them fold, dead-letter, serve and forward, scrapes /metrics, and checks
// that every metric, label and route the dashboard and the alerts use is
// there. Two nodes, because eventfold_http_forwards_total has no series
// until a node forwards a read.
func TestMetricsExported(t *testing.T) {
	exprs := append(readAlerts(t), readDashboard(t)...)

	k := eventfoldtest.NewKafka(t, 1)
	// A subscriber that gives up on order-2 at once: its metrics (lag,
	// deliveries, a dead letter) appear too.
	audit := subscriber.Subscriber{Name: "audit", Entities: []string{"orders"}, Handler: subscriber.HandlerFunc(
		func(_ context.Context, d subscriber.Delivery) error {
			if d.ID == "order-2" {
				return subscriber.Permanent(errors.New("not this one"))
			}
			return nil
		})}
	c := eventfoldtest.StartNodes(t, k, 2, demo.Entities(), func(cfg *node.Config) {
		cfg.Subscribers = []subscriber.Subscriber{audit}
	})
	nodes := c.Nodes()
	ctx := eventfoldtest.Context(t, 2*time.Minute)
	client := &http.Client{Timeout: 15 * time.Second}
	call := func(method, url, body string) (int, string, error) {
		req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
		if err != nil {
			return 0, "", err
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), nil
	}

	// A valid event, and one Evolve rejects (a new order cannot ship): the
	// second goes to the dead-letter topic.
	for _, ev := range []struct{ id, body string }{
		{"order-1", `{"type":"OrderCreated","customer_id":"c-1"}`},
		{"order-2", `{"type":"OrderShipped"}`},
	} {
		code, body, err := call(http.MethodPost, nodes[0].URL()+"/v1/orders/"+ev.id+"/events", ev.body)
		if err != nil || code != http.StatusAccepted {
			t.Fatalf("POST %s: %d %s %v", ev.id, code, body, err)
		}
	}
	// Read order-1 through every node: the node that does not own it
	// forwards the read to the one that does.
	owner := c.Owner("orders", "order-1", kafka.FNV1a)
	if owner == nil {
		t.Fatal("no owner of order-1")
	}
	for _, n := range nodes {
		eventfoldtest.Eventually(t, 30*time.Second, func() error {
			code, body, err := call(http.MethodGet, n.URL()+"/v1/orders/order-1", "")
			if err != nil {
				return err
			}
			if code != http.StatusOK {
				return fmt.Errorf("GET order-1 from %s: %d %s", n.ID(), code, body)
			}
			return nil
		})
	}

	// Series appear as things happen (the dead letter, the lag): scrape
	// until nothing is missing, then report everything still missing.
	var sc scrape
	var problems []string
	for deadline := time.Now().Add(30 * time.Second); ; {
		sc = scrape{types: map[string]string{}, samples: map[string]map[string][]string{}}
		for _, n := range nodes {
			code, body, err := call(http.MethodGet, n.URL()+"/metrics", "")
			if err != nil || code != http.StatusOK {
				t.Fatalf("GET /metrics from %s: %d %v", n.ID(), code, err)
			}
			if err := parseScrape(strings.NewReader(body), &sc); err != nil {
				t.Fatalf("/metrics of %s: %v", n.ID(), err)
			}
		}
		problems = checkExprs(exprs, sc)
		if len(problems) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, p := range problems {
		t.Error(p)
	}

	// The check catches what it should: a metric that does not exist, a
	// label a metric lacks, a route the node does not serve.
	bogus := []promExpr{
		{where: "bogus metric", expr: `sum(rate(eventfold_processor_events_bogus_total[5m]))`},
		{where: "bogus histogram", expr: `histogram_quantile(0.99, rate(eventfold_processor_events_folded_total_bucket[5m]))`},
		{where: "bogus label", expr: `sum by (route) (eventfold_processor_consumer_lag)`},
		{where: "bogus matcher", expr: `eventfold_processor_table_bytes{partition="1"}`},
		{where: "bogus route", expr: `eventfold_http_request_seconds_count{route="/v1/{entity}"}`},
		{where: "bogus legend", expr: `eventfold_processor_table_bytes`, legend: "{{partition}}"},
	}
	if got := checkExprs(bogus, sc); len(got) != len(bogus) {
		t.Errorf("the check found %d of %d planted problems:\n%s", len(got), len(bogus), strings.Join(got, "\n"))
	}

	// Log what the node exports that neither the dashboard nor an alert uses.
	used := map[string]bool{}
	for _, e := range exprs {
		refs, _ := parsePromQL(e.expr)
		for _, m := range refs.metrics() {
			used[sc.family(m)] = true
		}
	}
	var unused []string
	for _, f := range sortedKeys(sc.types) {
		if strings.HasPrefix(f, "eventfold_") && !used[f] {
			unused = append(unused, f)
		}
	}
	if len(unused) > 0 {
		t.Logf("exported but not on the dashboard or in an alert: %s", strings.Join(unused, ", "))
	}
}

// TestParseScrape pins the scrape parser on the text format.
func TestParseScrape(t *testing.T) {
	page := `# HELP h A histogram.
# TYPE h histogram
h_bucket{entity="orders",le="0.1"} 1
h_bucket{entity="orders",le="+Inf"} 2
h_sum{entity="orders"} 0.3
h_count{entity="orders"} 2
# TYPE c_total counter
c_total{result="ok",msg="a \"quoted\" }"} 3
# TYPE g gauge
g 1
`
	sc := scrape{types: map[string]string{}, samples: map[string]map[string][]string{}}
	if err := parseScrape(bytes.NewReader([]byte(page)), &sc); err != nil {
		t.Fatal(err)
	}
	for sample, fam := range map[string]string{"h_bucket": "h", "h_sum": "h", "h_count": "h", "c_total": "c_total", "g": "g", "g_count": "", "c": ""} {
		if got := sc.family(sample); got != fam {
			t.Errorf("family(%s) = %q, want %q", sample, got, fam)
		}
	}
	if !slices.Equal(sc.samples["h_bucket"]["le"], []string{"0.1", "+Inf"}) || sc.samples["c_total"]["result"][0] != "ok" {
		t.Errorf("labels: %v", sc.samples)
	}
}
