package deploy_test

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// A small PromQL scanner: enough to find the metric names, label matchers
// and grouping labels an expression uses, without a PromQL parser
// dependency. It understands string literals, label matchers, range and
// subquery brackets, function calls, grouping clauses (by, without, on,
// ignoring, group_left, group_right), keywords, numbers, durations and
// Grafana variables ($x, ${x}, $__rate_interval).

type matcher struct{ name, op, value string }

type selector struct {
	metric   string
	matchers []matcher
}

type promRefs struct {
	selectors []selector
	grouping  []string // label names in by/without/on/ignoring/group_x clauses
}

func (r promRefs) metrics() []string {
	var out []string
	for _, s := range r.selectors {
		if !slices.Contains(out, s.metric) {
			out = append(out, s.metric)
		}
	}
	return out
}

var (
	promKeywords = map[string]bool{
		"and": true, "or": true, "unless": true, "bool": true, "offset": true, "atan2": true,
		"inf": true, "nan": true, "Inf": true, "NaN": true,
	}
	promGrouping = map[string]bool{
		"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	}
	matcherRE = regexp.MustCompile(`^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`" + `)\s*,?`)
)

func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdentChar(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }

// parsePromQL scans expr. It fails on what it cannot attribute: a selector
// without a metric name ({__name__=...}), unbalanced brackets, a malformed
// matcher.
func parsePromQL(expr string) (promRefs, error) {
	var refs promRefs
	i, n := 0, len(expr)
	skipSpace := func(j int) int {
		for j < n && (expr[j] == ' ' || expr[j] == '\t' || expr[j] == '\n' || expr[j] == '\r') {
			j++
		}
		return j
	}
	skipString := func(j int) (int, error) {
		q := expr[j]
		for j++; j < n; j++ {
			if expr[j] == '\\' && q != '`' {
				j++
				continue
			}
			if expr[j] == q {
				return j + 1, nil
			}
		}
		return 0, fmt.Errorf("unterminated string at %d", j)
	}
	for i < n {
		c := expr[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			j, err := skipString(i)
			if err != nil {
				return refs, err
			}
			i = j
		case c == '{':
			return refs, fmt.Errorf("selector without a metric name at %d: %q", i, expr[i:])
		case c == '[':
			end := strings.IndexByte(expr[i:], ']')
			if end < 0 {
				return refs, fmt.Errorf("unbalanced [ at %d", i)
			}
			i += end + 1
		case c == '$':
			i++
			if i < n && expr[i] == '{' {
				end := strings.IndexByte(expr[i:], '}')
				if end < 0 {
					return refs, fmt.Errorf("unbalanced ${ at %d", i)
				}
				i += end + 1
			} else {
				for i < n && isIdentChar(expr[i]) {
					i++
				}
			}
		case c >= '0' && c <= '9' || c == '.':
			for i < n && (isIdentChar(expr[i]) || expr[i] == '.') {
				i++
			}
		case isIdentStart(c):
			j := i
			for j < n && isIdentChar(expr[j]) {
				j++
			}
			word := expr[i:j]
			k := skipSpace(j)
			switch {
			case promGrouping[word]:
				if k >= n || expr[k] != '(' {
					return refs, fmt.Errorf("%s without a label list at %d", word, i)
				}
				end := strings.IndexByte(expr[k:], ')')
				if end < 0 {
					return refs, fmt.Errorf("unbalanced ( after %s", word)
				}
				for _, l := range strings.Split(expr[k+1:k+end], ",") {
					if l = strings.TrimSpace(l); l != "" {
						refs.grouping = append(refs.grouping, l)
					}
				}
				i = k + end + 1
				continue
			case promKeywords[word]:
				i = j
				continue
			case k < n && expr[k] == '(':
				i = j // a function or aggregation
				continue
			case aggregationClause(expr[k:]):
				i = j // an aggregation with its clause first: sum by (x) (...)
				continue
			}
			sel := selector{metric: word}
			i = j
			if k < n && expr[k] == '{' {
				k++
				for {
					k = skipSpace(k)
					if k >= n {
						return refs, fmt.Errorf("unbalanced { after %s", word)
					}
					if expr[k] == '}' {
						k++
						break
					}
					m := matcherRE.FindStringSubmatch(expr[k:])
					if m == nil {
						return refs, fmt.Errorf("bad matcher after %s: %q", word, expr[k:])
					}
					val := m[3][1 : len(m[3])-1]
					sel.matchers = append(sel.matchers, matcher{name: m[1], op: m[2], value: val})
					k += len(m[0])
				}
				i = k
			}
			refs.selectors = append(refs.selectors, sel)
		default:
			i++
		}
	}
	return refs, nil
}

// aggregationClause reports whether rest starts with "by (" or "without (".
func aggregationClause(rest string) bool {
	for _, kw := range []string{"by", "without"} {
		if after, ok := strings.CutPrefix(rest, kw); ok {
			if a := strings.TrimLeft(after, " \t\n\r"); a != "" && a[0] == '(' {
				return true
			}
		}
	}
	return false
}

// labelValuesRE matches Grafana's label_values(selector, label) variable query.
var labelValuesRE = regexp.MustCompile(`^\s*label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$`)

func TestPromQLScanner(t *testing.T) {
	for _, tc := range []struct {
		expr     string
		metrics  []string
		grouping []string
		matchers int
	}{
		{`sum by (entity) (rate(eventfold_processor_events_folded_total{job="eventfold", instance=~"$instance"}[$__rate_interval]))`,
			[]string{"eventfold_processor_events_folded_total"}, []string{"entity"}, 2},
		{`histogram_quantile(0.99, sum by (route, le) (rate(eventfold_http_request_seconds_bucket{route="/v1/{entity}/{id}"}[5m]))) > 0.25`,
			[]string{"eventfold_http_request_seconds_bucket"}, []string{"route", "le"}, 1},
		{"increase(a_total[5m]) > 0 or (a_total unless a_total offset 5m)", []string{"a_total"}, nil, 0},
		{`max(m1{job="x"}) < count(up{job="x"} == 1)`, []string{"m1", "up"}, nil, 2},
		{`sum(rate(x[1m])) by (a, b) / on(a) group_left(c) y`, []string{"x", "y"}, []string{"a", "b", "a", "c"}, 0},
		{`absent(up{job="eventfold"} == 1)`, []string{"up"}, nil, 1},
		{`label_replace(z, "dst", "$1", "src", "(.*)") * 1e-3`, []string{"z"}, nil, 0},
		{`deriv(lag{a="}"}[10m:1m]) > 0 and lag > 1000`, []string{"lag"}, nil, 1},
	} {
		refs, err := parsePromQL(tc.expr)
		if err != nil {
			t.Errorf("%s: %v", tc.expr, err)
			continue
		}
		if got := refs.metrics(); !slices.Equal(got, tc.metrics) {
			t.Errorf("%s: metrics %q, want %q", tc.expr, got, tc.metrics)
		}
		if !slices.Equal(refs.grouping, tc.grouping) {
			t.Errorf("%s: grouping %q, want %q", tc.expr, refs.grouping, tc.grouping)
		}
		var nm int
		for _, s := range refs.selectors {
			nm += len(s.matchers)
		}
		if nm != tc.matchers {
			t.Errorf("%s: %d matchers, want %d", tc.expr, nm, tc.matchers)
		}
	}
	for _, bad := range []string{`{__name__="x"}`, `rate(x[5m)`, `x{a=b}`, `sum by entity (x)`} {
		if _, err := parsePromQL(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}
