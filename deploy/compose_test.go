package deploy_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const composeFile = "docker-compose.yml"

type mount struct {
	source, target string
	bind           bool // source is a path (relative to deploy/), not a named volume
}

type service struct {
	name string
	raw  map[string]any
	env  map[string]string
}

func (s service) image() string { return s.raw["image"].(string) }

// mounts parses the short volume syntax ("src:dst[:ro]").
func (sv service) mounts(t *testing.T) []mount {
	t.Helper()
	var out []mount
	for _, v := range l(sv.raw["volumes"]) {
		str, ok := v.(string)
		if !ok {
			t.Fatalf("%s: volume %v: the test reads only the short syntax", sv.name, v)
		}
		parts := strings.Split(str, ":")
		if len(parts) < 2 || len(parts) > 3 {
			t.Fatalf("%s: volume %q: want source:target[:mode]", sv.name, str)
		}
		src := parts[0]
		out = append(out, mount{source: src, target: parts[1], bind: strings.HasPrefix(src, ".") || strings.HasPrefix(src, "/")})
	}
	return out
}

// hostPath is the file or directory on the host mounted at target.
func (sv service) hostPath(t *testing.T, target string) string {
	t.Helper()
	for _, mt := range sv.mounts(t) {
		if mt.bind && (mt.target == target || strings.HasPrefix(target, mt.target+"/")) {
			return filepath.Join(mt.source, strings.TrimPrefix(target, mt.target))
		}
	}
	return ""
}

// ports parses the short port syntax ("host:container" or "ip:host:container")
// into host → container.
func (sv service) ports(t *testing.T) map[int]int {
	t.Helper()
	out := map[int]int{}
	for _, p := range l(sv.raw["ports"]) {
		str, ok := p.(string)
		if !ok {
			t.Fatalf("%s: port %v: quote ports (\"8081:8080\"): YAML reads some unquoted host:container pairs as numbers", sv.name, p)
		}
		parts := strings.Split(strings.TrimSuffix(str, "/tcp"), ":")
		if len(parts) < 2 {
			t.Fatalf("%s: port %q publishes no fixed host port", sv.name, str)
		}
		h, err1 := strconv.Atoi(parts[len(parts)-2])
		c, err2 := strconv.Atoi(parts[len(parts)-1])
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: port %q: want host:container", sv.name, str)
		}
		out[h] = c
	}
	return out
}

// names returns the keys of a compose map-or-list field (networks, depends_on).
func names(v any) []string {
	if mp := m(v); mp != nil {
		return sortedKeys(mp)
	}
	return strList(v)
}

// envOf reads a service's environment as the container gets it from
// `docker compose up` in a shell that sets none of the variables the file
// interpolates: ${VAR:-default} and ${VAR-default} are the default, ${VAR}
// is empty.
func envOf(v any) map[string]string {
	out := map[string]string{}
	if mp := m(v); mp != nil {
		for k, x := range mp {
			out[k] = interpolate(s(x))
		}
		return out
	}
	for _, kv := range strList(v) {
		k, val, _ := strings.Cut(kv, "=")
		out[k] = interpolate(val)
	}
	return out
}

var composeVarRE = regexp.MustCompile(`\$\{[A-Za-z_][A-Za-z0-9_]*(?::?-([^}]*))?\}`)

func interpolate(v string) string {
	return composeVarRE.ReplaceAllStringFunc(v, func(ref string) string {
		return composeVarRE.FindStringSubmatch(ref)[1]
	})
}

type compose struct {
	services map[string]service
	volumes  []string
	networks []string
	nodes    []service // eventfold
	brokers  []service // Kafka
}

func (c compose) byImage(prefix string) []service {
	var out []service
	for _, name := range sortedKeys(c.services) {
		if sv := c.services[name]; strings.HasPrefix(s(sv.raw["image"]), prefix) {
			out = append(out, sv)
		}
	}
	return out
}

func readCompose(t *testing.T) compose {
	t.Helper()
	doc := readYAML1(t, composeFile)
	c := compose{services: map[string]service{}, volumes: names(doc["volumes"]), networks: names(doc["networks"])}
	for name, raw := range m(doc["services"]) {
		sv := service{name: name, raw: m(raw), env: envOf(m(raw)["environment"])}
		c.services[name] = sv
	}
	for _, name := range sortedKeys(c.services) {
		sv := c.services[name]
		if at(sv.raw, "build") != nil {
			c.nodes = append(c.nodes, sv)
		}
	}
	c.brokers = c.byImage("apache/kafka:")
	return c
}

// TestComposeReferences: what the services refer to exists.
func TestComposeReferences(t *testing.T) {
	c := readCompose(t)
	usedVolumes := map[string]bool{}
	hostPorts := map[int]string{}
	for _, name := range sortedKeys(c.services) {
		sv := c.services[name]
		if sv.raw["image"] == nil {
			t.Errorf("%s: no image (set one, also for built services, so the build is tagged)", name)
		}
		nets := names(sv.raw["networks"])
		if len(nets) == 0 {
			t.Errorf("%s: on no network", name)
		}
		for _, n := range nets {
			if !slices.Contains(c.networks, n) {
				t.Errorf("%s: network %q is not defined", name, n)
			}
		}
		for _, d := range names(sv.raw["depends_on"]) {
			if _, ok := c.services[d]; !ok {
				t.Errorf("%s: depends on %q, which is not a service", name, d)
			}
		}
		for _, mt := range sv.mounts(t) {
			if mt.bind {
				if _, err := os.Stat(mt.source); err != nil {
					t.Errorf("%s: mounts %s, which does not exist (paths are relative to deploy/)", name, mt.source)
				}
				continue
			}
			if !slices.Contains(c.volumes, mt.source) {
				t.Errorf("%s: volume %q is not defined", name, mt.source)
			}
			if usedVolumes[mt.source] {
				t.Errorf("%s: volume %q is also mounted by another service", name, mt.source)
			}
			usedVolumes[mt.source] = true
		}
		for h := range sv.ports(t) {
			if other, dup := hostPorts[h]; dup {
				t.Errorf("host port %d is published by %s and %s", h, other, name)
			}
			hostPorts[h] = name
		}
		if hn := s(sv.raw["hostname"]); hn != "" && hn != name {
			t.Errorf("%s: hostname %q differs from the service name", name, hn)
		}
	}
	for _, v := range c.volumes {
		if !usedVolumes[v] {
			t.Errorf("volume %q is defined but no service mounts it", v)
		}
	}
}

// TestComposeEventfold: the nodes reach Kafka and each other.
func TestComposeEventfold(t *testing.T) {
	c := readCompose(t)
	img := checkDockerfile(t)
	if len(c.nodes) != 3 {
		t.Fatalf("%d eventfold services (with build:), want 3", len(c.nodes))
	}
	// The PLAINTEXT (inter-broker) listener of each broker.
	brokerAddr := map[string]bool{}
	for _, b := range c.brokers {
		for _, lst := range strings.Split(b.env["KAFKA_ADVERTISED_LISTENERS"], ",") {
			if rest, ok := strings.CutPrefix(lst, "PLAINTEXT://"); ok {
				brokerAddr[rest] = true
			}
		}
	}
	ids := map[string]string{}
	for _, sv := range c.nodes {
		where := composeFile + " " + sv.name
		build := m(sv.raw["build"])
		if df := filepath.Join(s(build["context"]), s(build["dockerfile"])); df != filepath.Join("..", "deploy", "Dockerfile") {
			t.Errorf("%s: builds %s, want context .. and dockerfile deploy/Dockerfile", where, df)
		}
		args := img.cmd
		if cmd := strList(sv.raw["command"]); len(cmd) > 0 {
			args = cmd
		}
		cli := checkServeConfig(t, where, args, sv.env)
		port := listenPort(t, where, cli["http"])

		host, advPort := hostPort(t, where+" EVENTFOLD_ADVERTISE", sv.env["EVENTFOLD_ADVERTISE"])
		if host != sv.name || advPort != port {
			t.Errorf("%s: EVENTFOLD_ADVERTISE %s: want http://%s:%d (the service name, the port it listens on)", where, sv.env["EVENTFOLD_ADVERTISE"], sv.name, port)
		}
		published := false
		for _, cport := range sv.ports(t) {
			published = published || cport == port
		}
		if !published {
			t.Errorf("%s: port %d is not published", where, port)
		}
		id := sv.env["EVENTFOLD_NODE_ID"]
		if id == "" {
			t.Errorf("%s: no EVENTFOLD_NODE_ID", where)
		} else if other, dup := ids[id]; dup {
			t.Errorf("%s: node id %q is also %s's", where, id, other)
		}
		ids[id] = sv.name

		bs := strings.Split(sv.env["EVENTFOLD_BROKERS"], ",")
		if len(bs) != len(c.brokers) {
			t.Errorf("%s: EVENTFOLD_BROKERS lists %d brokers, compose runs %d", where, len(bs), len(c.brokers))
		}
		for _, b := range bs {
			if !brokerAddr[b] {
				t.Errorf("%s: broker %q is no broker's PLAINTEXT listener (%v)", where, b, sortedKeys(brokerAddr))
			}
		}
		if r, err := strconv.Atoi(sv.env["EVENTFOLD_REPLICATION"]); err != nil || r != 3 || r > len(c.brokers) {
			t.Errorf("%s: EVENTFOLD_REPLICATION %q: want 3 (and at most the %d brokers)", where, sv.env["EVENTFOLD_REPLICATION"], len(c.brokers))
		}
		var dataMount *mount
		for _, mt := range sv.mounts(t) {
			if mt.target == cli["data-dir"] {
				dataMount = &mt
			}
		}
		if dataMount == nil || dataMount.bind {
			t.Errorf("%s: no named volume at the data dir %s", where, cli["data-dir"])
		}
		hc := strList(at(sv.raw, "healthcheck", "test"))
		if len(hc) != 3 || hc[0] != "CMD" || hc[1] != "/healthcheck" {
			t.Errorf("%s: healthcheck %q: want [CMD, /healthcheck, URL] (the image has no shell)", where, hc)
		} else if h, p := hostPort(t, where+" healthcheck", hc[2]); (h != "127.0.0.1" && h != "localhost") || p != port || !strings.HasSuffix(hc[2], readyPath) {
			t.Errorf("%s: healthcheck probes %s, want http://127.0.0.1:%d%s", where, hc[2], port, readyPath)
		}
		deps := names(sv.raw["depends_on"])
		for _, b := range c.brokers {
			if !slices.Contains(deps, b.name) {
				t.Errorf("%s: does not depend on %s", where, b.name)
			}
		}
	}
}

// TestComposeKafka: a three-node KRaft quorum that agrees with itself.
func TestComposeKafka(t *testing.T) {
	c := readCompose(t)
	if len(c.brokers) != 3 {
		t.Fatalf("%d apache/kafka services, want 3", len(c.brokers))
	}
	want := []string{}
	clusterIDs := map[string]bool{}
	voters := map[string]bool{}
	nodeIDs := map[string]bool{}
	for _, b := range c.brokers {
		where := composeFile + " " + b.name
		if b.image() != "apache/kafka:4.1.1" {
			t.Errorf("%s: image %s, want apache/kafka:4.1.1", where, b.image())
		}
		e := b.env
		id := e["KAFKA_NODE_ID"]
		if nodeIDs[id] || id == "" {
			t.Errorf("%s: KAFKA_NODE_ID %q missing or duplicated", where, id)
		}
		nodeIDs[id] = true
		roles := strings.Split(e["KAFKA_PROCESS_ROLES"], ",")
		if !slices.Contains(roles, "broker") || !slices.Contains(roles, "controller") {
			t.Errorf("%s: KAFKA_PROCESS_ROLES %q: want broker,controller", where, e["KAFKA_PROCESS_ROLES"])
		}
		listeners := map[string]string{} // name → port
		for _, lst := range strings.Split(e["KAFKA_LISTENERS"], ",") {
			name, addr, _ := strings.Cut(lst, "://")
			_, port, _ := strings.Cut(addr, ":")
			listeners[name] = port
		}
		cname := e["KAFKA_CONTROLLER_LISTENER_NAMES"]
		if listeners[cname] == "" {
			t.Errorf("%s: no %s listener in KAFKA_LISTENERS", where, cname)
		}
		want = append(want, id+"@"+b.name+":"+listeners[cname])
		clusterIDs[e["CLUSTER_ID"]] = true
		voters[e["KAFKA_CONTROLLER_QUORUM_VOTERS"]] = true
		if len(e["CLUSTER_ID"]) != 22 {
			t.Errorf("%s: CLUSTER_ID %q: want 22 characters of base64", where, e["CLUSTER_ID"])
		}
		for _, lst := range strings.Split(e["KAFKA_ADVERTISED_LISTENERS"], ",") {
			name, addr, _ := strings.Cut(lst, "://")
			host, port, _ := strings.Cut(addr, ":")
			if listeners[name] != port {
				t.Errorf("%s: advertises %s on port %s, but listens on %q", where, name, port, listeners[name])
			}
			switch name {
			case e["KAFKA_INTER_BROKER_LISTENER_NAME"]:
				if host != b.name {
					t.Errorf("%s: advertises %s as %s, want its service name %s", where, name, host, b.name)
				}
			default:
				p, _ := strconv.Atoi(port)
				if host == "localhost" && b.ports(t)[p] != p {
					t.Errorf("%s: advertises %s, but does not publish port %d", where, addr, p)
				}
			}
		}
		protoMap := e["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"]
		for name := range listeners {
			if !strings.Contains(protoMap, name+":") {
				t.Errorf("%s: listener %s is missing from KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", where, name)
			}
		}
		rf, _ := strconv.Atoi(e["KAFKA_DEFAULT_REPLICATION_FACTOR"])
		isr, _ := strconv.Atoi(e["KAFKA_MIN_INSYNC_REPLICAS"])
		if rf != 3 || isr != 2 {
			t.Errorf("%s: replication %d, min.insync.replicas %d: want 3 and 2", where, rf, isr)
		}
		for _, k := range []string{"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"} {
			if n, _ := strconv.Atoi(e[k]); n < 1 || n > len(c.brokers) {
				t.Errorf("%s: %s %q: want 1..%d", where, k, e[k], len(c.brokers))
			}
		}
		logDirMounted := false
		for _, mt := range b.mounts(t) {
			logDirMounted = logDirMounted || (mt.target == e["KAFKA_LOG_DIRS"] && !mt.bind)
		}
		if !logDirMounted {
			t.Errorf("%s: KAFKA_LOG_DIRS %q is not on a named volume", where, e["KAFKA_LOG_DIRS"])
		}
	}
	if len(clusterIDs) != 1 || len(voters) != 1 {
		t.Errorf("brokers disagree: cluster ids %v, quorum voters %v", sortedKeys(clusterIDs), sortedKeys(voters))
	}
	for v := range voters {
		got := strings.Split(v, ",")
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("KAFKA_CONTROLLER_QUORUM_VOTERS %q, want %q", v, strings.Join(want, ","))
		}
	}
}

// TestComposeMonitoring: Prometheus scrapes every node and loads the
// alerts; Grafana finds Prometheus and the dashboard.
func TestComposeMonitoring(t *testing.T) {
	c := readCompose(t)
	proms, grafanas := c.byImage("prom/prometheus:"), c.byImage("grafana/grafana:")
	if len(proms) != 1 || len(grafanas) != 1 {
		t.Fatalf("%d Prometheus and %d Grafana services, want 1 each", len(proms), len(grafanas))
	}
	prom, graf := proms[0], grafanas[0]

	cfgPath := "/etc/prometheus/prometheus.yml"
	for _, a := range strList(prom.raw["command"]) {
		if v, ok := strings.CutPrefix(a, "--config.file="); ok {
			cfgPath = v
		}
	}
	host := prom.hostPath(t, cfgPath)
	if host != filepath.Join("prometheus", "prometheus.yml") {
		t.Fatalf("prometheus: %s comes from %q, want ./prometheus/prometheus.yml", cfgPath, host)
	}
	cfg := readYAML1(t, host)
	for _, rf := range strList(cfg["rule_files"]) {
		if hp := prom.hostPath(t, rf); hp == "" {
			t.Errorf("prometheus.yml: rule file %s is not mounted", rf)
		} else if _, err := os.Stat(hp); err != nil {
			t.Errorf("prometheus.yml: rule file %s: %v", rf, err)
		}
	}
	if !slices.Contains(strList(cfg["rule_files"]), "/etc/prometheus/alerts.yml") || prom.hostPath(t, "/etc/prometheus/alerts.yml") != filepath.Join("prometheus", "alerts.yml") {
		t.Errorf("prometheus: alerts.yml is not loaded")
	}
	var targets []string
	for _, sc := range l(cfg["scrape_configs"]) {
		if s(at(sc, "job_name")) != "eventfold" {
			continue
		}
		if p := s(at(sc, "metrics_path")); p != "" && p != "/metrics" {
			t.Errorf("prometheus.yml: job eventfold scrapes %s, the node serves /metrics", p)
		}
		for _, st := range l(at(sc, "static_configs")) {
			targets = append(targets, strList(at(st, "targets"))...)
		}
	}
	var want []string
	for _, sv := range c.nodes {
		want = append(want, sv.name+":8080")
	}
	slices.Sort(targets)
	if !slices.Equal(targets, want) {
		t.Errorf("prometheus.yml: job eventfold scrapes %q, want the nodes %q", targets, want)
	}

	// Grafana: datasource → the Prometheus service; dashboards → the JSON.
	provDir := graf.hostPath(t, "/etc/grafana/provisioning")
	if provDir == "" {
		t.Fatal("grafana: /etc/grafana/provisioning is not mounted")
	}
	ds := readYAML1(t, filepath.Join(provDir, "datasources", "prometheus.yml"))
	var dsURL string
	for _, d := range l(ds["datasources"]) {
		if s(at(d, "type")) == "prometheus" {
			dsURL = s(at(d, "url"))
		}
	}
	if h, p := hostPort(t, "grafana datasource", dsURL); h != prom.name || p != 9090 {
		t.Errorf("grafana datasource url %s: want http://%s:9090", dsURL, prom.name)
	}
	if !slices.Contains(names(graf.raw["depends_on"]), prom.name) {
		t.Errorf("grafana does not depend on %s", prom.name)
	}
	prov := readYAML1(t, filepath.Join(provDir, "dashboards", "eventfold.yml"))
	found := false
	for _, p := range l(prov["providers"]) {
		dir := s(at(p, "options", "path"))
		hp := graf.hostPath(t, dir)
		if hp == "" {
			t.Errorf("grafana dashboard provider reads %s, which is not mounted", dir)
			continue
		}
		if _, err := os.Stat(filepath.Join(hp, "eventfold.json")); err == nil {
			found = true
		}
	}
	if !found {
		t.Error("grafana: no dashboard provider loads eventfold.json")
	}
	if home := graf.env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]; home != "" {
		if hp := graf.hostPath(t, home); hp == "" {
			t.Errorf("grafana home dashboard %s is not mounted", home)
		} else if _, err := os.Stat(hp); err != nil {
			t.Errorf("grafana home dashboard: %v", err)
		}
	}
}
