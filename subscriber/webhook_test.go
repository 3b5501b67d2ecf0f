package subscriber_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventfold/eventfold"
	"github.com/eventfold/eventfold/subscriber"
)

var webhookSecret = []byte("0123456789abcdef0123456789abcdef")

func webhookDelivery() subscriber.Delivery {
	return subscriber.Delivery{
		Subscriber: "mailer", Entity: "counters", ID: "a", EventID: "counters-events/3/41",
		Type: "added", Event: json.RawMessage(`{"n":2}`), Applied: true, Version: 7,
		State: json.RawMessage(`{"sum":9,"count":7}`), Partition: 3, Offset: 41,
		Timestamp: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), Attempt: 2,
	}
}

type received struct {
	header http.Header
	method string
	body   []byte
}

// answering is a receiver that records each request and answers with fn.
func answering(t *testing.T, fn func(w http.ResponseWriter, r *http.Request)) (*httptest.Server, chan received) {
	t.Helper()
	got := make(chan received, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- received{header: r.Header.Clone(), method: r.Method, body: body}
		fn(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

func newWebhook(t *testing.T, url string, opts ...subscriber.WebhookOption) *subscriber.Webhook {
	t.Helper()
	w, err := subscriber.NewWebhook(url, webhookSecret, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestWebhookPostsTheDeliveryJSONSigned(t *testing.T) {
	srv, got := answering(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	wh := newWebhook(t, srv.URL+"/hooks/counters", subscriber.WithWebhookHeader("Authorization", "Bearer receiver-token"))
	d := webhookDelivery()
	if err := wh.Handle(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	r := <-got
	want, _ := d.MarshalJSON()
	if r.method != http.MethodPost || !bytes.Equal(r.body, want) {
		t.Fatalf("got %s %s, want POST %s", r.method, r.body, want)
	}
	for k, v := range map[string]string{
		"Content-Type":                  "application/json",
		subscriber.WebhookHeaderEventID: "counters-events/3/41",
		subscriber.WebhookHeaderAttempt: "2",
		"Authorization":                 "Bearer receiver-token",
	} {
		if g := r.header.Get(k); g != v {
			t.Errorf("header %s = %q, want %q", k, g, v)
		}
	}

	sig := r.header.Get(subscriber.WebhookHeaderSignature)
	now := time.Now()
	for _, c := range []struct {
		name   string
		secret []byte
		body   []byte
		now    time.Time
		ok     bool
	}{
		{"as sent", webhookSecret, r.body, now, true},
		{"tampered body", webhookSecret, bytes.Replace(r.body, []byte(`"n":2`), []byte(`"n":3`), 1), now, false},
		{"wrong secret", []byte("another secret of 32 bytes......"), r.body, now, false},
		{"replayed an hour later", webhookSecret, r.body, now.Add(time.Hour), false},
		{"clock an hour behind", webhookSecret, r.body, now.Add(-time.Hour), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := subscriber.VerifyWebhook(c.secret, sig, c.body, c.now, 5*time.Minute)
			if c.ok && err != nil {
				t.Fatalf("%s: %v", sig, err)
			}
			if !c.ok && !errors.Is(err, subscriber.ErrBadSignature) {
				t.Fatalf("%s: got %v, want ErrBadSignature", sig, err)
			}
		})
	}
}

func TestVerifyWebhookRejectsMalformedHeaders(t *testing.T) {
	// Sign through a real request so the test does not restate the scheme.
	srv, got := answering(t, func(w http.ResponseWriter, r *http.Request) {})
	if err := newWebhook(t, srv.URL).Handle(context.Background(), webhookDelivery()); err != nil {
		t.Fatal(err)
	}
	r := <-got
	sig := r.header.Get(subscriber.WebhookHeaderSignature)
	ts, v1, _ := strings.Cut(sig, ",")
	now := time.Now()
	for _, c := range []struct {
		name, header string
		ok           bool
	}{
		{"empty", "", false},
		{"no timestamp", v1, false},
		{"no v1", ts, false},
		{"timestamp not a number", "t=soon," + v1, false},
		{"two timestamps", ts + "," + ts + "," + v1, false},
		{"v1 not hex", ts + ",v1=zz", false},
		{"spaces and an unknown scheme", " " + ts + " , v0=abc, " + v1 + " ", true},
		{"an old v1 before the matching one", ts + ",v1=00ff," + v1, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := subscriber.VerifyWebhook(webhookSecret, c.header, r.body, now, time.Minute)
			if c.ok != (err == nil) {
				t.Fatalf("%q: got %v, want ok %v", c.header, err, c.ok)
			}
			if err != nil && !errors.Is(err, subscriber.ErrBadSignature) {
				t.Fatalf("%q: got %v, want ErrBadSignature", c.header, err)
			}
		})
	}
	// A receiver that lost its secret or tolerance must not verify anything.
	for _, err := range []error{
		subscriber.VerifyWebhook(nil, sig, r.body, now, time.Minute),
		subscriber.VerifyWebhook(webhookSecret, sig, r.body, now, 0),
	} {
		if !errors.Is(err, eventfold.ErrInvalid) {
			t.Errorf("got %v, want ErrInvalid", err)
		}
	}
}

func TestWebhookOutcomeFollowsTheStatus(t *testing.T) {
	const (
		done      = iota
		backoff   // retried after the subscriber's backoff
		after     // retried after wait
		permanent // dead-lettered at once
	)
	for _, c := range []struct {
		status     int
		retryAfter string
		want       int
		wait       time.Duration
	}{
		{200, "", done, 0},
		{202, "", done, 0},
		{204, "", done, 0},
		{503, "2", after, 2 * time.Second},
		{429, "2", after, 2 * time.Second},
		{503, "-3", after, 0},
		{503, "86400", after, time.Hour},
		{503, "", backoff, 0},
		{503, "when you feel like it", backoff, 0},
		{429, "", backoff, 0},
		{500, "", backoff, 0},
		{502, "7", backoff, 0}, // only 429 and 503 promise anything with Retry-After
		{504, "", backoff, 0},
		{408, "", backoff, 0},
		{400, "", permanent, 0},
		{401, "", permanent, 0},
		{403, "", permanent, 0},
		{404, "", permanent, 0},
		{410, "", permanent, 0},
		{413, "", permanent, 0},
		{422, "", permanent, 0},
		{301, "", permanent, 0},
	} {
		t.Run(fmt.Sprintf("%d %s", c.status, c.retryAfter), func(t *testing.T) {
			srv, _ := answering(t, func(w http.ResponseWriter, r *http.Request) {
				if c.retryAfter != "" {
					w.Header().Set("Retry-After", c.retryAfter)
				}
				w.WriteHeader(c.status)
				io.WriteString(w, "receiver says why")
			})
			err := newWebhook(t, srv.URL).Handle(context.Background(), webhookDelivery())
			if c.want == done {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("got nil, want an error")
			}
			if !strings.Contains(err.Error(), http.StatusText(c.status)) || !strings.Contains(err.Error(), "receiver says why") {
				t.Errorf("error %q does not name the status and the body", err)
			}
			if p := subscriber.IsPermanent(err); p != (c.want == permanent) {
				t.Errorf("%v: permanent %v, want %v", err, p, c.want == permanent)
			}
			if wait, ok := subscriber.RetryWait(err); ok != (c.want == after) || wait != c.wait {
				t.Errorf("%v: retry wait %v, %v; want %v, %v", err, wait, ok, c.wait, c.want == after)
			}
		})
	}
}

func TestWebhookRetryAfterAnHTTPDate(t *testing.T) {
	for _, c := range []struct {
		name     string
		at       time.Duration
		min, max time.Duration
	}{
		{"in ten seconds", 10 * time.Second, 8 * time.Second, 10 * time.Second},
		{"in the past", -time.Minute, 0, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv, _ := answering(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", time.Now().Add(c.at).UTC().Format(http.TimeFormat))
				w.WriteHeader(http.StatusServiceUnavailable)
			})
			err := newWebhook(t, srv.URL).Handle(context.Background(), webhookDelivery())
			wait, ok := subscriber.RetryWait(err)
			if !ok || wait < c.min || wait > c.max || subscriber.IsPermanent(err) {
				t.Fatalf("%v: wait %v, %v; want %v..%v", err, wait, ok, c.min, c.max)
			}
		})
	}
}

func TestWebhookErrorKeepsOnlyTheStartOfALongBody(t *testing.T) {
	srv, _ := answering(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, strings.Repeat("stack trace line\n", 10000))
	})
	err := newWebhook(t, srv.URL).Handle(context.Background(), webhookDelivery())
	if err == nil || len(err.Error()) > 400 || !strings.Contains(err.Error(), "500 Internal Server Error: stack trace line") {
		t.Fatalf("got %d bytes: %.500v", len(err.Error()), err)
	}
}

func TestWebhookGivesUpOnASlowReceiverAfterItsTimeout(t *testing.T) {
	srv, _ := answering(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	wh := newWebhook(t, srv.URL, subscriber.WithWebhookTimeout(200*time.Millisecond))
	start := time.Now()
	err := wh.Handle(context.Background(), webhookDelivery())
	took := time.Since(start)
	if err == nil || subscriber.IsPermanent(err) {
		t.Fatalf("got %v, want an error to retry", err)
	}
	if took > 2*time.Second {
		t.Fatalf("took %v with a timeout of 200ms", took)
	}
	if !strings.Contains(err.Error(), "200ms") {
		t.Errorf("error %q does not say it timed out", err)
	}
}

func TestWebhookAnUnreachableReceiverIsRetriedAndItsQueryStaysSecret(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	err := newWebhook(t, srv.URL+"/hook?token=s3cr3t").Handle(context.Background(), webhookDelivery())
	if err == nil || subscriber.IsPermanent(err) {
		t.Fatalf("got %v, want an error to retry", err)
	}
	if strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("error %q shows the query", err)
	}
}

func TestWebhookDoesNotFollowRedirects(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	srv, _ := answering(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL, http.StatusTemporaryRedirect)
	})
	for _, c := range []struct {
		name string
		opts []subscriber.WebhookOption
	}{
		{"default client", nil},
		{"caller's client", []subscriber.WebhookOption{subscriber.WithWebhookClient(&http.Client{})}},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := newWebhook(t, srv.URL, c.opts...).Handle(context.Background(), webhookDelivery())
			if !subscriber.IsPermanent(err) || !strings.Contains(err.Error(), "307") {
				t.Fatalf("got %v, want a permanent error naming the 307", err)
			}
		})
	}
	if n := elsewhere.Load(); n != 0 {
		t.Fatalf("the redirect target got %d requests", n)
	}
}

func TestNewWebhookValidates(t *testing.T) {
	for _, c := range []struct {
		name, url string
		secret    []byte
		opts      []subscriber.WebhookOption
		want      string
	}{
		{"unparsable url", "http://a b.example/", webhookSecret, nil, "url"},
		{"ftp", "ftp://example.com/hook", webhookSecret, nil, "scheme must be http or https"},
		{"relative url", "/hook", webhookSecret, nil, "scheme must be http or https"},
		{"no host", "https:///hook", webhookSecret, nil, "has no host"},
		{"short secret", "https://example.com/hook", []byte("too short"), nil, "secret has 9 bytes, want at least 16"},
		{"no secret", "https://example.com/hook", nil, nil, "secret has 0 bytes"},
		{"zero timeout", "https://example.com/hook", webhookSecret, []subscriber.WebhookOption{subscriber.WithWebhookTimeout(0)}, "timeout 0s"},
		{"nil client", "https://example.com/hook", webhookSecret, []subscriber.WebhookOption{subscriber.WithWebhookClient(nil)}, "client is nil"},
		{"bad header name", "https://example.com/hook", webhookSecret, []subscriber.WebhookOption{subscriber.WithWebhookHeader("X Token", "v")}, "not a valid HTTP header name"},
		{"header value with a newline", "https://example.com/hook", webhookSecret, []subscriber.WebhookOption{subscriber.WithWebhookHeader("X-Token", "a\r\nX-Evil: 1")}, "control character"},
		{"replacing the signature", "https://example.com/hook", webhookSecret, []subscriber.WebhookOption{subscriber.WithWebhookHeader("eventfold-signature", "t=1,v1=00")}, "set by the webhook itself"},
	} {
		t.Run(c.name, func(t *testing.T) {
			w, err := subscriber.NewWebhook(c.url, c.secret, c.opts...)
			if w != nil || !errors.Is(err, eventfold.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, %v; want ErrInvalid saying %q", w, err, c.want)
			}
		})
	}
	if _, err := subscriber.NewWebhook("https://example.com/hook?x=1", webhookSecret,
		subscriber.WithWebhookTimeout(time.Second), subscriber.WithWebhookHeader("Authorization", "Bearer t")); err != nil {
		t.Fatal(err)
	}
}
