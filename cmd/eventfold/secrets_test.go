package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eventfold/eventfold/interactive"
)

// The HTTP side's secrets: from files or the environment, checked together.
func TestHTTPAuthSettings(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tokens := write("tokens", "# scoped tokens\nread  reader-0123456789abcdef\nwrite writer-0123456789abcdef\n\nadmin admin-0123456789abcdefg\n")
	secret := write("secret", "s3cret-shared-by-the-nodes\n")
	for _, tc := range []struct {
		name       string
		flags      httpAuthFlags
		env        map[string]string
		wantErr    string
		wantTokens interactive.Tokens
		wantSecret string
	}{
		{name: "nothing: an open API", wantTokens: interactive.Tokens{}},
		{name: "tokens file and secret file", flags: httpAuthFlags{tokensFile: tokens, secretFile: secret},
			wantTokens: interactive.Tokens{"reader-0123456789abcdef": interactive.ScopeRead, "writer-0123456789abcdef": interactive.ScopeWrite, "admin-0123456789abcdefg": interactive.ScopeAdmin},
			wantSecret: "s3cret-shared-by-the-nodes"},
		{name: "admin token and secret from env", env: map[string]string{envToken: "env-admin-token-0123", envClusterSecret: "env-secret"},
			wantTokens: interactive.Tokens{"env-admin-token-0123": interactive.ScopeAdmin}, wantSecret: "env-secret"},
		{name: "a token without a secret", env: map[string]string{envToken: "env-admin-token-0123"}, wantErr: "no cluster secret"},
		{name: "secret in a file and in env", flags: httpAuthFlags{secretFile: secret}, env: map[string]string{envClusterSecret: "x"}, wantErr: "both set"},
		{name: "empty secret file", flags: httpAuthFlags{secretFile: write("empty", "\n")}, wantErr: "is empty"},
		{name: "a short token", flags: httpAuthFlags{tokensFile: write("short", "read abc\n"), secretFile: secret}, wantErr: "at least 16"},
		{name: "an unknown scope", flags: httpAuthFlags{tokensFile: write("scope", "root abcdefghijklmnopq\n"), secretFile: secret}, wantErr: "want read, write or admin"},
		{name: "metrics behind a token without one", flags: httpAuthFlags{metricsNeedToken: true}, wantErr: "--metrics-need-token without a token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{envToken, envClusterSecret} {
				t.Setenv(k, tc.env[k])
			}
			gotTokens, gotSecret, err := tc.flags.apply()
			if wantErr(t, err, tc.wantErr) {
				return
			}
			if string(gotSecret) != tc.wantSecret || len(gotTokens) != len(tc.wantTokens) {
				t.Fatalf("tokens %v secret %q, want %v %q", gotTokens, gotSecret, tc.wantTokens, tc.wantSecret)
			}
			for k, v := range tc.wantTokens {
				if gotTokens[k] != v {
					t.Errorf("token %q: scope %v, want %v", k, gotTokens[k], v)
				}
			}
		})
	}
}

// Client commands read their token from a file or EVENTFOLD_TOKEN; there
// is no token flag.
func TestClientTokenComesFromAFileOrTheEnvironment(t *testing.T) {
	for _, cmd := range []string{"get", "emit", "cmd", "history"} {
		err := run(context.Background(), []string{cmd, "--token", "x", "orders", "o-1"})
		if err == nil || !strings.Contains(err.Error(), "flag provided but not defined") {
			t.Errorf("%s --token: %v, want the flag refused", cmd, err)
		}
	}
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte("from-the-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := clientFlags{tokenFile: p}
	t.Setenv(envToken, "")
	if tok, err := secretFrom("token-file", c.tokenFile, envToken); err != nil || tok != "from-the-file" {
		t.Errorf("token %q (%v), want the file's", tok, err)
	}
	t.Setenv(envToken, "from-env")
	if _, err := c.client(); err == nil || !strings.Contains(err.Error(), "both set") {
		t.Errorf("file and env: %v, want refused", err)
	}
}

// wantErr checks err against want (a part of the message; "" for none)
// and reports whether the case is done (an error was expected).
func wantErr(t *testing.T, err error, want string) bool {
	t.Helper()
	if want != "" {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("err = %v, want an error with %q", err, want)
		}
		return true
	}
	if err != nil {
		t.Fatal(err)
	}
	return false
}
