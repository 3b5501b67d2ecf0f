package console_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/eventfold/eventfold/demo"
	"github.com/eventfold/eventfold/eventfoldtest"
	"github.com/eventfold/eventfold/interactive"
	"github.com/eventfold/eventfold/node"
	"github.com/eventfold/eventfold/subscriber"
)

// The console's tests drive a real Chromium (Debian's chromium package)
// headless against nodes on kfake, and assert on what the page shows.
// EVENTFOLD_SCREENSHOTS=<dir> also saves a screenshot of each page there
// (docs/img is where the README's come from).

// chromium finds the browser, or skips: .ci/run installs it with apt-get,
// and make test prints a note when it is missing.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("EVENTFOLD_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no Chromium found (apt-get install chromium, or set EVENTFOLD_CHROMIUM): the console's browser tests are skipped")
	return ""
}

// browser starts a headless Chromium for the test, with the flags this
// machine needs (no sandbox as root, nothing reaching outside).
func browser(t *testing.T) context.Context {
	t.Helper()
	path := chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1000),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	return ctx
}

// text is what the page shows in the first element matching sel ("" if none).
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	js := fmt.Sprintf(`(() => { const e = document.querySelector(%q); return e ? e.innerText : ""; })()`, sel)
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	if err != nil {
		t.Fatalf("read %s: %v", sel, err)
	}
	return s
}

// waitText polls until the element matching sel shows want.
func waitText(t *testing.T, ctx context.Context, sel, want string) {
	t.Helper()
	eventfoldtest.Eventually(t, 30*time.Second, func() error {
		if got := text(t, ctx, sel); !strings.Contains(got, want) {
			return fmt.Errorf("%s shows %q, want %q in it (page: %q, status: %q)", sel, short(got), want, short(text(t, ctx, "main")), text(t, ctx, "#status"))
		}
		return nil
	})
}

func short(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}

func run(t *testing.T, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatal(err)
	}
}

// js runs a script for its effect.
func js(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[any](expr)(ctx, t)
		return err
	})
}

// screenshot saves the page when EVENTFOLD_SCREENSHOTS names a directory.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("EVENTFOLD_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// seedOrder42 appends the seed articles' order: quantity 5, then 6 (versions
// 2 and 3), an event Evolve refuses (a quantity change of an item the order
// does not have: a dead letter with reason evolve), and a rejected order.
func seedOrder42(t *testing.T, cl *interactive.Client) {
	t.Helper()
	ctx := eventfoldtest.Context(t, time.Minute)
	for _, ev := range []struct{ id, body string }{
		{"order-42", `{"type":"OrderCreated","customer_id":"user-000001"}`},
		{"order-42", `{"type":"ItemAdded","sku":"BOOK-1","quantity":5,"price_cents":1250}`},
		{"order-42", `{"type":"QuantityChanged","sku":"BOOK-1","quantity":6}`},
		{"order-42", `{"type":"QuantityChanged","sku":"NOT-THERE","quantity":2}`},
		{"order-43", `{"type":"OrderShipped"}`},
	} {
		if _, err := cl.Append(ctx, "orders", ev.id, []byte(ev.body)); err != nil {
			t.Fatal(err)
		}
	}
	eventfoldtest.Eventually(t, 30*time.Second, func() error {
		a, err := cl.Get(ctx, "orders", "order-42")
		if err != nil {
			return err
		}
		if a.Version != 3 {
			return fmt.Errorf("order-42 at version %d", a.Version)
		}
		return nil
	})
}

func TestConsolePages(t *testing.T) {
	ctx := browser(t)
	k := eventfoldtest.NewKafka(t, 1)
	audit := subscriber.Subscriber{Name: "audit", Entities: []string{"orders"},
		Handler: subscriber.HandlerFunc(func(context.Context, subscriber.Delivery) error { return nil })}
	c := eventfoldtest.StartNodes(t, k, 1, demo.Entities(), func(cfg *node.Config) {
		cfg.HotStandby = true
		cfg.Subscribers = []subscriber.Subscriber{audit}
	})
	n1 := c.Nodes()[0]
	seedOrder42(t, n1.Client)
	ui := n1.URL() + "/ui/"

	t.Run("cluster: the partition map changes when a node joins", func(t *testing.T) {
		run(t, ctx, chromedp.Navigate(ui+"#/cluster"))
		waitText(t, ctx, "#partitions-orders", "node-1")
		waitText(t, ctx, "#members", "node-1")
		if got := text(t, ctx, "#partitions-orders"); strings.Contains(got, "node-2") {
			t.Fatalf("node-2 in the map before it started: %s", got)
		}
		c.AddNode()
		c.WaitRebalanced(60 * time.Second)
		// The page polls: node-2 appears as an owner, and node-1 keeps others.
		waitText(t, ctx, "#partitions-orders tbody", "node-2")
		waitText(t, ctx, "#members", "node-2")
		waitText(t, ctx, "#rebalances", "node-2")
		waitText(t, ctx, "#subscribers", "audit")
		// Lag is live: events after the rebalance give their partitions a number.
		for i := range 24 {
			if _, err := n1.Client.Append(eventfoldtest.Context(t, 10*time.Second), "orders", fmt.Sprint("o-", i), []byte(`{"type":"OrderCreated","customer_id":"c"}`)); err != nil {
				t.Fatal(err)
			}
		}
		waitText(t, ctx, "#partitions-orders td.lag", "0")
		screenshot(t, ctx, "console-cluster")
	})

	t.Run("entity: the version slider shows quantity 5, then 6", func(t *testing.T) {
		run(t, ctx, chromedp.Navigate(ui+"#/entity/orders/order-42"))
		waitText(t, ctx, "#entity-state", `"quantity": 6`)
		waitText(t, ctx, "#entity-version", "version 3")
		for _, v := range []struct{ version, quantity string }{{"2", `"quantity": 5`}, {"3", `"quantity": 6`}} {
			run(t, ctx, js(fmt.Sprintf(`(() => { const s = document.getElementById("version-slider");
				s.value = %q; s.dispatchEvent(new Event("input")); })()`, v.version)))
			waitText(t, ctx, "#slider-version", "version "+v.version)
			waitText(t, ctx, "#slider-state", v.quantity)
		}
		// The timeline: every event, the refused one with why.
		waitText(t, ctx, "#timeline", "QuantityChanged")
		waitText(t, ctx, "#timeline tr.rejected", "evolve")
		// The difference between versions 2 and 3.
		run(t, ctx, chromedp.SetValue(chromedp.CSS("#diff-from"), "2"), chromedp.SetValue(chromedp.CSS("#diff-to"), "3"),
			chromedp.Click(chromedp.CSS(`#diff-form button`)))
		waitText(t, ctx, "#diff", "items[0].quantity: 5 → 6")
		screenshot(t, ctx, "console-entity")
	})

	t.Run("entity: a command sent from the page appears in the timeline", func(t *testing.T) {
		run(t, ctx, chromedp.Navigate(ui+"#/entity/orders/order-42"), chromedp.WaitVisible(chromedp.CSS("#command-body")))
		if got := text(t, ctx, "#timeline"); strings.Contains(got, "OrderApproved") {
			t.Fatalf("OrderApproved in the timeline before the command: %s", short(got))
		}
		run(t, ctx, chromedp.SetValue(chromedp.CSS("#command-body"), `{"type":"ApproveOrder","approved_by":"console"}`),
			chromedp.Click(chromedp.CSS("#send-command")))
		waitText(t, ctx, "#timeline", "OrderApproved")
		waitText(t, ctx, "#entity-version", "version 4")
		a, err := n1.Client.Get(eventfoldtest.Context(t, 10*time.Second), "orders", "order-42")
		if err != nil || a.Version != 4 || !strings.Contains(string(a.State), `"approved_by":"console"`) {
			t.Errorf("after the command: version %d state %s (%v)", a.Version, a.State, err)
		}
		// If-Match with the version shown: a stale page gets a conflict.
		run(t, ctx, js(`(() => { document.getElementById("command-body").value = '{"type":"CancelOrder","reason":"x"}'; })()`))
		if _, err := n1.Client.Command(eventfoldtest.Context(t, 10*time.Second), "orders", "order-42",
			[]byte(`{"type":"ShipOrder","carrier":"dhl"}`), interactive.CommandOptions{}); err != nil {
			t.Fatal(err)
		}
		run(t, ctx, chromedp.Click(chromedp.CSS("#send-command")))
		waitText(t, ctx, "#command-result", "conflict")
	})

	t.Run("dead letters: listed with reason and source position", func(t *testing.T) {
		run(t, ctx, chromedp.Navigate(ui+"#/deadletters/orders"))
		waitText(t, ctx, "#deadletters", "evolve")
		waitText(t, ctx, "#deadletters", "order-43")
		screenshot(t, ctx, "console-deadletters")
	})
}

// With tokens the page asks for one once (never in the URL) and, with a
// read token, shows itself read-only.
func TestConsoleAsksForATokenAndIsReadOnlyWithARead(t *testing.T) {
	ctx := browser(t)
	k := eventfoldtest.NewKafka(t, 1)
	tokens, err := interactive.ParseTokens(strings.NewReader("read reader-token-0123456789\nadmin admin-token-0123456789\n"))
	if err != nil {
		t.Fatal(err)
	}
	c := eventfoldtest.StartNodes(t, k, 1, demo.Entities(), func(cfg *node.Config) {
		cfg.Tokens, cfg.ClusterSecret = tokens, []byte("cluster-secret-0123456789abcdef")
	})
	n := c.Nodes()[0]
	admin := interactive.NewClient(n.URL(), "admin-token-0123456789")
	seedOrder42(t, admin)
	run(t, ctx, chromedp.Navigate(n.URL()+"/ui/#/entity/orders/order-42"))
	eventfoldtest.Eventually(t, 30*time.Second, func() error {
		hidden, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("token-box").hidden`))
		if err != nil {
			return err
		}
		if hidden {
			return fmt.Errorf("no token asked for")
		}
		return nil
	})
	run(t, ctx, chromedp.SetValue(chromedp.CSS("#token-input"), "reader-token-0123456789"), chromedp.Click(chromedp.CSS("#token-form button")))
	waitText(t, ctx, "#who", "token scope: read")
	waitText(t, ctx, "#entity-state", `"quantity": 6`)
	waitText(t, ctx, "#read-only", "Read-only")
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(loc, "reader-token") {
		t.Errorf("the token is in the URL: %s", loc)
	}
	disabled, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("send-command").disabled`))
	if err != nil {
		t.Fatal(err)
	}
	if !disabled {
		t.Error("a read token can press Send")
	}
}
