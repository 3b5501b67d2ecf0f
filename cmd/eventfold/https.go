package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"os"

	"github.com/eventfold/eventfold/node"
)

// httpsFlags are serve's HTTPS settings: the API's certificate, the CA
// other nodes' certificates are checked against, and mutual TLS between
// nodes.
type httpsFlags struct {
	cert, key                 string
	clientCA                  string
	peerCA, peerCert, peerKey string
	peerCertRequired          bool
}

func (h *httpsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&h.cert, "tls-cert", "", "certificate file (PEM) to serve the API over HTTPS; the node then advertises https://")
	fs.StringVar(&h.key, "tls-key", "", "private key file (PEM) of --tls-cert")
	fs.StringVar(&h.clientCA, "tls-client-ca-file", "", "CA (PEM) whose client certificates the API verifies when one is shown (mutual TLS between nodes)")
	fs.StringVar(&h.peerCA, "peer-ca-file", "", "CA (PEM) the certificates of other nodes are checked against when forwarding (default: the system's roots)")
	fs.StringVar(&h.peerCert, "peer-cert-file", "", "client certificate (PEM) this node shows when it forwards (mutual TLS between nodes)")
	fs.StringVar(&h.peerKey, "peer-key-file", "", "private key file (PEM) of --peer-cert-file")
	fs.BoolVar(&h.peerCertRequired, "peer-cert-required", false, "accept forwards only with a client certificate verified against --tls-client-ca-file")
}

// apply sets cfg.TLS, cfg.PeerTLS and cfg.PeerCertRequired.
func (h *httpsFlags) apply(cfg *node.Config) error {
	if (h.cert == "") != (h.key == "") {
		return fmt.Errorf("--tls-cert and --tls-key go together")
	}
	if (h.peerCert == "") != (h.peerKey == "") {
		return fmt.Errorf("--peer-cert-file and --peer-key-file go together")
	}
	if h.cert == "" && (h.clientCA != "" || h.peerCertRequired) {
		return fmt.Errorf("--tls-client-ca-file and --peer-cert-required need --tls-cert and --tls-key")
	}
	if h.peerCertRequired && h.clientCA == "" {
		return fmt.Errorf("--peer-cert-required needs --tls-client-ca-file to verify the certificates with")
	}
	if h.cert != "" {
		kp, err := tls.LoadX509KeyPair(h.cert, h.key)
		if err != nil {
			return fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		cfg.TLS = &tls.Config{Certificates: []tls.Certificate{kp}, MinVersion: tls.VersionTLS12}
		if h.clientCA != "" {
			pool, err := certPool("--tls-client-ca-file", h.clientCA)
			if err != nil {
				return err
			}
			cfg.TLS.ClientAuth, cfg.TLS.ClientCAs = tls.VerifyClientCertIfGiven, pool
		}
	}
	if h.peerCA != "" || h.peerCert != "" {
		cfg.PeerTLS = &tls.Config{MinVersion: tls.VersionTLS12}
		if h.peerCA != "" {
			pool, err := certPool("--peer-ca-file", h.peerCA)
			if err != nil {
				return err
			}
			cfg.PeerTLS.RootCAs = pool
		}
		if h.peerCert != "" {
			kp, err := tls.LoadX509KeyPair(h.peerCert, h.peerKey)
			if err != nil {
				return fmt.Errorf("--peer-cert-file/--peer-key-file: %w", err)
			}
			cfg.PeerTLS.Certificates = []tls.Certificate{kp}
		}
	}
	cfg.PeerCertRequired = h.peerCertRequired
	return nil
}

func certPool(flagName, file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flagName, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: %s holds no PEM certificate", flagName, file)
	}
	return pool, nil
}
