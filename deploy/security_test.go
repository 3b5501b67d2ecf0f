package deploy_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The examples carry the Kafka TLS and SASL settings (docs/security.md):
// the password only ever from a secret or the host's environment, never a
// literal in the file or an argument; in Kubernetes the certificate files
// from an optional Secret volume that the ConfigMap's example paths are in.
func TestKafkaSecurityWiring(t *testing.T) {
	settings := []string{"EVENTFOLD_KAFKA_TLS", "EVENTFOLD_KAFKA_CA_FILE", "EVENTFOLD_KAFKA_SASL_MECHANISM", "EVENTFOLD_KAFKA_SASL_USER", "EVENTFOLD_KAFKA_SASL_PASSWORD"}

	// Compose: every node has each setting, from the host's environment.
	c := readCompose(t)
	for _, sv := range c.nodes {
		raw := map[string]string{}
		for k, v := range m(sv.raw["environment"]) {
			raw[k] = s(v)
		}
		for _, k := range settings {
			if !strings.HasPrefix(raw[k], "${"+k) {
				t.Errorf("%s %s: %s is %q, want it from the host's environment (${%s:-…})", composeFile, sv.name, k, raw[k], k)
			}
		}
		for _, a := range strList(sv.raw["command"]) {
			if strings.Contains(strings.ToLower(a), "password") {
				t.Errorf("%s %s: the command line has %q: a secret in argv is visible to ps", composeFile, sv.name, a)
			}
		}
		// With none of them set, the nodes talk plaintext, as the brokers do.
		if sv.env["EVENTFOLD_KAFKA_TLS"] != "false" || sv.env["EVENTFOLD_KAFKA_SASL_MECHANISM"] != "" || sv.env["EVENTFOLD_KAFKA_SASL_PASSWORD"] != "" {
			t.Errorf("%s %s: by default TLS %q, SASL %q: the compose brokers speak plaintext", composeFile, sv.name, sv.env["EVENTFOLD_KAFKA_TLS"], sv.env["EVENTFOLD_KAFKA_SASL_MECHANISM"])
		}
	}

	// Kubernetes.
	objs, _ := readK8s(t)
	sts := find(objs, "StatefulSet", "eventfold")
	if sts == nil {
		t.Fatal("no StatefulSet eventfold")
	}
	pod := m(at(sts.doc, "spec", "template", "spec"))
	ctr := m(l(pod["containers"])[0])
	var fromSecret bool
	for _, e := range l(ctr["env"]) {
		if s(at(e, "name")) == "EVENTFOLD_KAFKA_SASL_PASSWORD" {
			fromSecret = at(e, "valueFrom", "secretKeyRef", "name") != nil && at(e, "value") == nil
		}
	}
	if !fromSecret {
		t.Error("StatefulSet: EVENTFOLD_KAFKA_SASL_PASSWORD does not come from a Secret")
	}
	for _, a := range strList(ctr["args"]) {
		if strings.Contains(strings.ToLower(a), "password") {
			t.Errorf("StatefulSet: args has %q: a secret in argv is visible to ps", a)
		}
	}
	var tlsVolume string
	for _, v := range l(pod["volumes"]) {
		if at(v, "secret", "secretName") != nil && at(v, "secret", "optional") == true {
			tlsVolume = s(at(v, "name"))
		}
	}
	mountPath := ""
	for _, vm := range l(ctr["volumeMounts"]) {
		if s(at(vm, "name")) == tlsVolume && tlsVolume != "" {
			mountPath = s(at(vm, "mountPath"))
			if at(vm, "readOnly") != true {
				t.Errorf("StatefulSet: the Kafka TLS Secret is mounted writable")
			}
		}
	}
	if mountPath == "" {
		t.Fatal("StatefulSet: no optional Secret volume mounted for the Kafka TLS files")
	}
	// The ConfigMap's (commented) example paths point into that mount.
	raw, err := os.ReadFile(filepath.Join(k8sDir, "configmap.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^\s*#\s*(EVENTFOLD_KAFKA_[A-Z_]+):\s*(\S+)`)
	found := map[string]string{}
	for _, mm := range re.FindAllStringSubmatch(string(raw), -1) {
		found[mm[1]] = strings.Trim(mm[2], `"`)
	}
	for _, k := range []string{"EVENTFOLD_KAFKA_CA_FILE", "EVENTFOLD_KAFKA_CERT_FILE", "EVENTFOLD_KAFKA_KEY_FILE"} {
		if !strings.HasPrefix(found[k], mountPath+"/") {
			t.Errorf("configmap.yaml: example %s %q is not under the Secret's mount %s", k, found[k], mountPath)
		}
	}
	for _, k := range []string{"EVENTFOLD_KAFKA_TLS", "EVENTFOLD_KAFKA_SASL_MECHANISM", "EVENTFOLD_KAFKA_SASL_USER"} {
		if found[k] == "" {
			t.Errorf("configmap.yaml: no example %s", k)
		}
	}
	if _, ok := found["EVENTFOLD_KAFKA_SASL_PASSWORD"]; ok {
		t.Error("configmap.yaml: a password belongs in a Secret, not the ConfigMap")
	}
}
