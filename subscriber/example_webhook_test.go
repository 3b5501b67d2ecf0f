package subscriber_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/eventfold/eventfold/subscriber"
)

func ExampleNewWebhook() {
	secret := []byte("32 random bytes shared with them")

	// The receiver: check the signature on the raw body before trusting
	// it, and deduplicate on the event id (a delivery may come again).
	verified := make(chan string, 1)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		sig := r.Header.Get(subscriber.WebhookHeaderSignature)
		if err := subscriber.VerifyWebhook(secret, sig, body, time.Now(), 5*time.Minute); err != nil {
			verified <- fmt.Sprintf("signature verified: false (%v), answered %d", err, http.StatusUnauthorized)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var d subscriber.Delivery
		if err := json.Unmarshal(body, &d); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		verified <- fmt.Sprintf("signature verified: true, %s %s (%s), answered %d",
			d.Entity, d.Type, r.Header.Get(subscriber.WebhookHeaderEventID), http.StatusNoContent)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()

	// The sender: a Webhook is the Handler of a Subscriber.
	hook, err := subscriber.NewWebhook(receiver.URL+"/eventfold", secret, subscriber.WithWebhookTimeout(5*time.Second))
	if err != nil {
		fmt.Println(err)
		return
	}
	d := subscriber.Delivery{
		Subscriber: "mailer", Entity: "accounts", ID: "ada", EventID: "accounts-events/0/7",
		Type: "opened", Event: json.RawMessage(`{"owner":"ada"}`), Applied: true, Version: 1, Attempt: 1,
	}
	err = hook.Handle(context.Background(), d)
	fmt.Println(<-verified)
	fmt.Println("handled:", err)
	// Output:
	// signature verified: true, accounts opened (accounts-events/0/7), answered 204
	// handled: <nil>
}
