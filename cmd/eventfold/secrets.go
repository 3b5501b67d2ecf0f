package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/eventfold/eventfold/interactive"
)

// Secrets of the HTTP side come from files or the environment, never from
// the command line: ps shows arguments to every user of the machine.
const (
	envToken         = "EVENTFOLD_TOKEN"          // one admin token (serve), the token to send (clients)
	envClusterSecret = "EVENTFOLD_CLUSTER_SECRET" // the nodes' shared secret
)

// secretFrom reads a secret from file (line breaks at its end ignored) or,
// without one, from the environment variable env ("" is unset: compose and
// Kubernetes pass "" for an absent secret). Both set is an error.
func secretFrom(flagName, file, env string) (string, error) {
	v := os.Getenv(env)
	switch {
	case file != "" && v != "":
		return "", fmt.Errorf("--%s and %s are both set: use one", flagName, env)
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("--%s: %w", flagName, err)
		}
		s := strings.TrimRight(string(b), "\r\n")
		if s == "" {
			return "", fmt.Errorf("--%s: %s is empty", flagName, file)
		}
		return s, nil
	}
	return v, nil
}

// httpAuthFlags are serve's settings of the HTTP side's security.
type httpAuthFlags struct {
	tokensFile, secretFile string
	metricsNeedToken       bool
}

func (h *httpAuthFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&h.tokensFile, "tokens-file", "", "file of scoped bearer tokens for /v1, one \"<read|write|admin> <token>\" per line; or set "+envToken+" to one admin token (no token flag: ps shows arguments)")
	fs.StringVar(&h.secretFile, "cluster-secret-file", "", "file holding the secret every node of the cluster shares (signs the membership and the forwards; required with tokens); or set "+envClusterSecret)
	fs.BoolVar(&h.metricsNeedToken, "metrics-need-token", false, "put /metrics behind an admin token")
}

// apply reads the tokens and the cluster secret.
func (h *httpAuthFlags) apply() (tokens interactive.Tokens, secret []byte, err error) {
	tokens = interactive.Tokens{}
	if h.tokensFile != "" {
		f, err := os.Open(h.tokensFile)
		if err != nil {
			return nil, nil, fmt.Errorf("--tokens-file: %w", err)
		}
		defer f.Close()
		if tokens, err = interactive.ParseTokens(f); err != nil {
			return nil, nil, fmt.Errorf("--tokens-file %s: %w", h.tokensFile, err)
		}
	}
	if t := os.Getenv(envToken); t != "" {
		tokens[t] = interactive.ScopeAdmin
	}
	s, err := secretFrom("cluster-secret-file", h.secretFile, envClusterSecret)
	if err != nil {
		return nil, nil, err
	}
	if s != "" {
		secret = []byte(s)
	}
	if len(tokens) > 0 && secret == nil {
		return nil, nil, fmt.Errorf("tokens are set but no cluster secret: set --cluster-secret-file or %s (the same on every node)", envClusterSecret)
	}
	if h.metricsNeedToken && len(tokens) == 0 {
		return nil, nil, fmt.Errorf("--metrics-need-token without a token: set --tokens-file or %s", envToken)
	}
	return tokens, secret, nil
}
