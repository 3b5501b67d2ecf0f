package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/eventfold/eventfold/demo/purchases"
	"github.com/eventfold/eventfold/node"
	"github.com/eventfold/eventfold/subscriber"
)

const envWebhookSecret = "EVENTFOLD_WEBHOOK_SECRET"

// subscriberFlags choose and configure serve's subscribers: the demo's
// process manager (purchases) and, with --webhook-url, a webhook.
type subscriberFlags struct {
	run         string
	webhookURL  string
	secretFile  string
	entities    string
	timeout     time.Duration
	attempts    int
	concurrency int
	start       string
}

func (s *subscriberFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&s.run, "subscribers", "none", "subscribers this node runs: all, none, or a comma-separated list of names (purchases, webhook)")
	fs.StringVar(&s.webhookURL, "webhook-url", "", "declare the subscriber \"webhook\": POST every event (with the state after it) as JSON to this URL")
	fs.StringVar(&s.secretFile, "webhook-secret-file", "", "file holding the webhook's HMAC secret (at least 16 bytes; signs Eventfold-Signature); or set "+envWebhookSecret)
	fs.StringVar(&s.entities, "webhook-entities", "orders,users", "entity types the webhook follows")
	fs.DurationVar(&s.timeout, "webhook-timeout", 10*time.Second, "timeout of one webhook request")
	fs.IntVar(&s.attempts, "webhook-max-attempts", 5, "attempts of one delivery before it goes to the webhook's dead-letter topic")
	fs.IntVar(&s.concurrency, "webhook-concurrency", 8, "keys delivered at once by this node")
	fs.StringVar(&s.start, "webhook-start", "beginning", "where a new webhook starts: beginning or now")
}

// apply declares the subscribers and chooses those that run.
func (s *subscriberFlags) apply(cfg *node.Config) error {
	subs := []subscriber.Subscriber{purchases.Subscriber()}
	if s.webhookURL != "" {
		secret, err := secretFrom("webhook-secret-file", s.secretFile, envWebhookSecret)
		if err != nil {
			return err
		}
		wh, err := subscriber.NewWebhook(s.webhookURL, []byte(secret), subscriber.WithWebhookTimeout(s.timeout))
		if err != nil {
			return fmt.Errorf("--webhook-url: %w", err)
		}
		var start subscriber.Start
		switch s.start {
		case "beginning":
		case "now":
			start = subscriber.FromNow
		default:
			return fmt.Errorf("--webhook-start=%q: want beginning or now", s.start)
		}
		subs = append(subs, subscriber.Subscriber{
			Name: "webhook", Entities: splitList(s.entities), Handler: wh, Start: start,
			MaxAttempts: s.attempts, Concurrency: s.concurrency,
			// A request may take the whole timeout: the handler's bound is above it.
			Timeout: s.timeout + time.Second,
		})
	} else if s.secretFile != "" {
		return errors.New("--webhook-secret-file without --webhook-url")
	}
	cfg.Subscribers = subs
	switch s.run {
	case "all":
		cfg.RunSubscribers = nil
	case "none", "":
		cfg.RunSubscribers = []string{}
	default:
		cfg.RunSubscribers = splitList(s.run)
	}
	return nil
}

// runSubscribers shows the subscribers of every node of the cluster, or
// pauses or resumes one everywhere.
//
//	eventfold subscribers                 # status, gathered from every node
//	eventfold subscribers pause <name>
//	eventfold subscribers resume <name>
func runSubscribers(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("subscribers", flag.ContinueOnError)
	var c clientFlags
	c.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	cl, err := c.client()
	if err != nil {
		return err
	}
	switch {
	case fs.NArg() == 2 && (fs.Arg(0) == "pause" || fs.Arg(0) == "resume"):
		if err := cl.PauseSubscriber(ctx, fs.Arg(1), fs.Arg(0) == "pause"); err != nil {
			return err
		}
		return printJSON(map[string]any{"subscriber": fs.Arg(1), "paused": fs.Arg(0) == "pause"})
	case fs.NArg() != 0:
		return errors.New("usage: eventfold subscribers [flags] [pause|resume <name>]")
	}
	cluster, err := cl.Cluster(ctx)
	if err != nil {
		return err
	}
	type nodeView struct {
		Partitions map[string][]int32 `json:"partitions"`
		Lag        int64              `json:"lag"`
		Error      string             `json:"error,omitempty"`
	}
	type row struct {
		subscriber.Status
		Nodes map[string]nodeView `json:"nodes"`
	}
	rows := map[string]*row{}
	var order []string
	members := append(cluster.Members, cluster.Replicas...)
	for _, m := range members {
		raw, err := cl.For(m.URL).Subscribers(ctx)
		var sts []subscriber.Status
		if err == nil {
			err = json.Unmarshal(raw, &sts)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "warning: node %s (%s): %v\n", m.ID, m.URL, err)
			continue
		}
		for _, st := range sts {
			r := rows[st.Name]
			if r == nil {
				r = &row{Status: st, Nodes: map[string]nodeView{}}
				r.Partitions, r.Lag, r.Delivered, r.Retried, r.DeadLettered, r.Runs = map[string][]int32{}, 0, 0, 0, 0, false
				rows[st.Name] = r
				order = append(order, st.Name)
			}
			r.Runs = r.Runs || st.Runs
			r.Paused = r.Paused || st.Paused
			r.Lag += st.Lag
			r.Delivered += st.Delivered
			r.Retried += st.Retried
			r.DeadLettered += st.DeadLettered
			for e, ps := range st.Partitions {
				r.Partitions[e] = append(r.Partitions[e], ps...)
			}
			if st.Runs {
				r.Nodes[m.ID] = nodeView{Partitions: st.Partitions, Lag: st.Lag}
			}
		}
	}
	out := make([]*row, 0, len(order))
	for _, n := range order {
		out = append(out, rows[n])
	}
	return printJSON(out)
}
