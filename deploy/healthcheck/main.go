// Command healthcheck is the probe of the eventfold container image, which
// has no shell, curl or wget: it GETs a URL and exits 0 on a 2xx answer,
// 1 otherwise. The image's HEALTHCHECK and docker-compose run
//
//	/healthcheck http://127.0.0.1:8080/readyz
//
// Kubernetes probes the HTTP endpoints itself and does not need it.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

func main() {
	timeout := flag.Duration("timeout", 3*time.Second, "request timeout")
	caFile := flag.String("ca-file", "", "CA (PEM) of the node's HTTPS certificate, for an https:// URL")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: healthcheck [--timeout 3s] [--ca-file ca.pem] URL")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	c, err := client(*caFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		os.Exit(2)
	}
	if err := check(ctx, c, flag.Arg(0)); err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		os.Exit(1)
	}
}

// check GETs url and returns nil on a 2xx status.
func check(ctx context.Context, c *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s: %s: %s", url, resp.Status, body)
	}
	return nil
}

// client trusts the CA in caFile (none: the system's roots).
func client(caFile string) (*http.Client, error) {
	if caFile == "" {
		return http.DefaultClient, nil
	}
	b, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s holds no PEM certificate", caFile)
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}, nil
}
