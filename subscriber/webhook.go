package subscriber

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/eventfold/eventfold"
	"github.com/eventfold/eventfold/limits"
)

// Headers of a webhook request, besides Content-Type: application/json.
const (
	WebhookHeaderEventID   = "Eventfold-Event-Id"
	WebhookHeaderAttempt   = "Eventfold-Attempt"
	WebhookHeaderSignature = "Eventfold-Signature"
)

// ErrBadSignature is what VerifyWebhook wraps when a request was not
// signed with the secret, or not recently enough.
var ErrBadSignature = errors.New("subscriber: webhook signature does not verify")

const (
	webhookMinSecret = 16
	// Enough of the receiver's answer to say why, not enough to flood the
	// logs and the dead letter's error header.
	webhookErrBody = 256
	// Reading the rest of a small body lets the connection be reused; a
	// large one is not worth reading.
	webhookDrain          = 64 << 10
	webhookMaxRetryAfter  = time.Hour
	webhookDefaultTimeout = 10 * time.Second
)

// Webhook is a Handler that POSTs each delivery as JSON (Delivery's
// MarshalJSON) to a URL, with the headers
//
//	Content-Type: application/json
//	Eventfold-Event-Id: <Delivery.EventID>
//	Eventfold-Attempt: <Delivery.Attempt>
//	Eventfold-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>
//
// A receiver checks the signature before trusting the body: it computes
// HMAC-SHA256 with the shared secret over the decimal t, a dot and the raw
// request body exactly as received, hex-encodes it (lower case) and
// compares it with v1 in constant time; it also rejects a t too far from
// its clock (a few minutes), so that a captured request cannot be
// replayed later. Parts of the header other than t and v1 are to be
// ignored. VerifyWebhook does all of this for a receiver written in Go.
// A receiver deduplicates on Eventfold-Event-Id: a delivery may come
// again (at least once), with another attempt, timestamp and signature.
//
// A 2xx answer means done. 408, 429 and 5xx, no answer and a timeout are
// retried with the subscriber's backoff, or after the Retry-After of a 429
// or 503 (capped by the subscriber's MaxBackoff). Any other answer (a 3xx
// included: redirects are not followed, so a delivery never goes where it
// was not configured to) dead-letters the delivery at once, since the same
// request would get the same answer.
type Webhook struct {
	url    string
	where  string // for errors: no query or user info, which may hold secrets
	secret []byte
	cfg    webhookConfig
}

type webhookConfig struct {
	timeout time.Duration
	client  *http.Client
	header  http.Header
	errs    []error
}

// WebhookOption configures NewWebhook.
type WebhookOption func(*webhookConfig)

// WithWebhookTimeout bounds one request; default 10s. The subscriber's
// Timeout bounds the attempt too, and the shorter wins.
func WithWebhookTimeout(d time.Duration) WebhookOption {
	return func(c *webhookConfig) { c.timeout = d }
}

// WithWebhookClient sends the requests with c (a TLS configuration, a
// proxy). Unless c has its own CheckRedirect, the webhook uses a copy of c
// that does not follow redirects.
func WithWebhookClient(c *http.Client) WebhookOption {
	return func(cfg *webhookConfig) {
		if c == nil {
			cfg.errs = append(cfg.errs, errors.New("client is nil"))
			return
		}
		cfg.client = c
	}
}

// WithWebhookHeader adds a header to every request, such as an
// Authorization the receiver checks besides the signature.
func WithWebhookHeader(key, value string) WebhookOption {
	return func(c *webhookConfig) {
		switch {
		case !validHeaderKey(key):
			c.errs = append(c.errs, fmt.Errorf("header name %q is not a valid HTTP header name", key))
		case !validHeaderValue(value):
			c.errs = append(c.errs, fmt.Errorf("header %s: value holds a control character", key))
		case isWebhookOwnHeader(key):
			c.errs = append(c.errs, fmt.Errorf("header %s is set by the webhook itself", http.CanonicalHeaderKey(key)))
		default:
			c.header.Add(key, value)
		}
	}
}

// NewWebhook returns a Webhook that POSTs to rawURL (http or https) and
// signs with secret (at least 16 bytes; 32 random bytes is a good choice).
func NewWebhook(rawURL string, secret []byte, opts ...WebhookOption) (*Webhook, error) {
	cfg := webhookConfig{timeout: webhookDefaultTimeout, header: http.Header{}}
	for _, o := range opts {
		o(&cfg)
	}
	errs := cfg.errs
	u, err := url.Parse(rawURL)
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("url: %w", err))
	case u.Scheme != "http" && u.Scheme != "https":
		errs = append(errs, fmt.Errorf("url %s: scheme must be http or https", u.Redacted()))
	case u.Host == "":
		errs = append(errs, fmt.Errorf("url %s: has no host", u.Redacted()))
	}
	if len(secret) < webhookMinSecret {
		errs = append(errs, fmt.Errorf("secret has %d bytes, want at least %d", len(secret), webhookMinSecret))
	}
	if cfg.timeout <= 0 {
		errs = append(errs, fmt.Errorf("timeout %v, want > 0", cfg.timeout))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("subscriber: webhook: %w: %w", eventfold.ErrInvalid, err)
	}
	if cfg.client == nil {
		cfg.client = &http.Client{}
	}
	if cfg.client.CheckRedirect == nil {
		c := *cfg.client
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		cfg.client = &c
	}
	return &Webhook{
		url:    rawURL,
		where:  u.Scheme + "://" + u.Host + u.Path,
		secret: bytes.Clone(secret), // the caller may reuse its slice
		cfg:    cfg,
	}, nil
}

// Handle POSTs d; see Webhook for what the answer means.
func (w *Webhook) Handle(ctx context.Context, d Delivery) error {
	body, err := d.MarshalJSON()
	if err != nil {
		return Permanent(fmt.Errorf("subscriber: webhook %s: encode delivery %s: %w", w.where, d.EventID, err))
	}
	rctx, cancel := context.WithTimeout(ctx, w.cfg.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return Permanent(fmt.Errorf("subscriber: webhook %s: %w", w.where, err))
	}
	req.Header = w.cfg.header.Clone()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(WebhookHeaderEventID, d.EventID)
	req.Header.Set(WebhookHeaderAttempt, strconv.Itoa(d.Attempt))
	req.Header.Set(WebhookHeaderSignature, signWebhook(w.secret, time.Now().Unix(), body))

	resp, err := w.cfg.client.Do(req)
	if err != nil {
		// url.Error would repeat the whole URL, query included.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return fmt.Errorf("subscriber: webhook %s: no answer within %v", w.where, w.cfg.timeout)
		}
		return fmt.Errorf("subscriber: webhook %s: %w", w.where, err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(io.LimitReader(resp.Body, webhookDrain))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	err = fmt.Errorf("subscriber: webhook %s: %s", w.where, resp.Status)
	if text := strings.TrimSpace(strings.ToValidUTF8(string(got), "\uFFFD")); text != "" {
		err = fmt.Errorf("%w: %s", err, limits.Truncate(text, webhookErrBody))
	}
	code := resp.StatusCode
	switch {
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		if wait, ok := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			return RetryAfter(err, wait)
		}
		return err
	case code >= 500 || code == http.StatusRequestTimeout:
		return err
	default:
		return Permanent(err)
	}
}

// parseRetryAfter reads delta-seconds or an HTTP-date; false if h is
// neither, and the backoff applies.
func parseRetryAfter(h string, now time.Time) (time.Duration, bool) {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0, false
	}
	var wait time.Duration
	if s, err := strconv.ParseInt(h, 10, 64); err == nil {
		wait = time.Duration(min(max(s, 0), int64(webhookMaxRetryAfter/time.Second))) * time.Second
	} else if t, err := http.ParseTime(h); err == nil {
		wait = t.Sub(now)
	} else {
		return 0, false
	}
	return min(max(wait, 0), webhookMaxRetryAfter), true
}

func signWebhook(secret []byte, t int64, body []byte) string {
	ts := strconv.FormatInt(t, 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(webhookMAC(secret, ts, body))
}

func webhookMAC(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// VerifyWebhook checks a Webhook's request: signatureHeader is its
// Eventfold-Signature header, body the raw request body, now the
// receiver's clock and tolerance how far the signing time may be from now
// either way (5 minutes is usual). A header with several v1 values passes
// if any matches. It returns an error wrapping ErrBadSignature if the
// request does not verify, and one wrapping eventfold.ErrInvalid if secret
// or tolerance could not verify anything (a receiver's misconfiguration,
// not a bad request).
func VerifyWebhook(secret []byte, signatureHeader string, body []byte, now time.Time, tolerance time.Duration) error {
	if len(secret) < webhookMinSecret || tolerance <= 0 {
		return fmt.Errorf("subscriber: verify webhook: %w: secret of %d bytes (want at least %d), tolerance %v (want > 0)",
			eventfold.ErrInvalid, len(secret), webhookMinSecret, tolerance)
	}
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(signatureHeader, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			if ts != "" {
				return fmt.Errorf("%w: two timestamps", ErrBadSignature)
			}
			ts = v
		case "v1":
			// A value that is not hex cannot match; the others still may.
			if b, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, b)
			}
		}
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: no valid t=<unix seconds>", ErrBadSignature)
	}
	if age := now.Sub(time.Unix(t, 0)); age > tolerance || age < -tolerance {
		return fmt.Errorf("%w: signed at %d, %v from now, tolerance %v", ErrBadSignature, t, age.Round(time.Second), tolerance)
	}
	want := webhookMAC(secret, ts, body)
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			return nil
		}
	}
	return fmt.Errorf("%w: no v1 signature matches", ErrBadSignature)
}

// RetryWait reports the wait an error made with RetryAfter asks for.
func RetryWait(err error) (time.Duration, bool) {
	var ra *retryAfterError
	if errors.As(err, &ra) {
		return ra.after, true
	}
	return 0, false
}

// IsPermanent reports whether err was made with Permanent: the delivery
// goes to the dead-letter topic without another attempt.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

func validHeaderKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
		if !ok {
			return false
		}
	}
	return true
}

// validHeaderValue refuses what would let a value start another header
// or that net/http refuses when sending (each attempt would then fail).
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// isWebhookOwnHeader: an extra header must not replace the signature or
// the headers the receiver relies on to deduplicate.
func isWebhookOwnHeader(k string) bool {
	switch http.CanonicalHeaderKey(k) {
	case "Content-Type", WebhookHeaderEventID, WebhookHeaderAttempt, WebhookHeaderSignature:
		return true
	}
	return false
}
