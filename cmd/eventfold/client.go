package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/eventfold/eventfold/interactive"
)

func runEmit(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("emit", flag.ContinueOnError)
	var c clientFlags
	c.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 3 {
		return errors.New(`usage: eventfold emit [flags] <entity> <id> '<event json>'`)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	cl, err := c.client()
	if err != nil {
		return err
	}
	res, err := cl.Append(ctx, fs.Arg(0), fs.Arg(1), []byte(fs.Arg(2)))
	if err != nil {
		return err
	}
	return printJSON(res)
}

func runGet(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("get", flag.ContinueOnError)
	var c clientFlags
	c.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return errors.New("usage: eventfold get [flags] <entity> <id>  (or projections/<name> <key>)")
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	cl, err := c.client()
	if err != nil {
		return err
	}
	get := cl.Get
	name, isProjection := strings.CutPrefix(fs.Arg(0), projectionsArg)
	if isProjection {
		get = cl.Projection
	}
	a, err := get(ctx, name, fs.Arg(1))
	if err != nil {
		return err
	}
	if a.Stale {
		fmt.Fprintf(os.Stderr, "warning: stale answer from standby %s\n", a.ServedBy)
	}
	return printJSON(a.EntityResponse)
}

func runCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("cmd", flag.ContinueOnError)
	var c clientFlags
	c.register(fs)
	ifMatch := fs.Int64("if-match", -1, "only if the entity is at this version (optimistic concurrency); -1: any")
	key := fs.String("idempotency-key", "", "name the command so a retry returns the first result and appends nothing")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 3 {
		return errors.New(`usage: eventfold cmd [flags] <entity> <id> '<command json>'`)
	}
	var o interactive.CommandOptions
	if *ifMatch >= 0 {
		v := uint64(*ifMatch)
		o.IfMatch = &v
	}
	o.IdempotencyKey = *key
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	cl, err := c.client()
	if err != nil {
		return err
	}
	res, err := cl.Command(ctx, fs.Arg(0), fs.Arg(1), []byte(fs.Arg(2)), o)
	if err != nil {
		return err
	}
	return printJSON(res)
}

func runHistory(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("history", flag.ContinueOnError)
	var c clientFlags
	c.register(fs)
	asOf := fs.String("as-of", "", "print the state as of this RFC 3339 time instead of the events")
	version := fs.Uint64("version", 0, "print the state at this version instead of the events")
	after := fs.Int64("after", -1, "list events after this offset")
	limit := fs.Int("limit", 100, "events per page (at most 1000)")
	all := fs.Bool("all", false, "follow the pages to the end")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return errors.New("usage: eventfold history [flags] <entity> <id>")
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	cl, err := c.client()
	if err != nil {
		return err
	}
	if *asOf != "" || *version > 0 {
		q := url.Values{}
		if *asOf != "" {
			q.Set("as_of", *asOf)
		}
		if *version > 0 {
			q.Set("version", fmt.Sprint(*version))
		}
		a, err := cl.Read(ctx, fs.Arg(0), fs.Arg(1), q)
		if err != nil {
			return err
		}
		return printJSON(a.EntityResponse)
	}
	for {
		page, err := cl.History(ctx, fs.Arg(0), fs.Arg(1), *after, *limit)
		if err != nil {
			return err
		}
		if err := printJSON(page); err != nil {
			return err
		}
		if !*all || page.Next == nil {
			return nil
		}
		*after = *page.Next
	}
}

func runList(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("list", flag.ContinueOnError)
	var c clientFlags
	c.register(fs)
	prefix := fs.String("prefix", "", "only ids that start with this")
	after := fs.String("after", "", "the next of a previous page")
	limit := fs.Int("limit", 100, "items per page (at most 1000)")
	ids := fs.Bool("ids", false, "ids and versions only, no states")
	strong := fs.Bool("strong", false, "consistency=strong: only owners answer, never standby copies")
	all := fs.Bool("all", false, "follow the pages to the end, printing one item per line (JSON lines)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: eventfold list [flags] <entity>  (or projections/<name>)")
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	list := cl.List
	name, isProjection := strings.CutPrefix(fs.Arg(0), projectionsArg)
	if isProjection {
		list = cl.ListProjection
	}
	o := interactive.ListOptions{Prefix: *prefix, After: *after, Limit: *limit, NoState: *ids, Strong: *strong}
	enc := json.NewEncoder(os.Stdout)
	for {
		// --timeout bounds each page: --all may list millions.
		pctx, cancel := context.WithTimeout(ctx, c.timeout)
		page, err := list(pctx, name, o)
		cancel()
		if err != nil {
			return err
		}
		if !*all {
			return printJSON(page)
		}
		for _, it := range page.Items {
			if err := enc.Encode(it); err != nil {
				return err
			}
		}
		if page.Next == nil {
			return nil
		}
		o.After = *page.Next
	}
}

// projectionsArg prefixes a projection's name where get and list take an
// entity type: get projections/customer-orders user-000001.
const projectionsArg = "projections/"

func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
