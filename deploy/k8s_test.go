package deploy_test

// Structural checks of the Kubernetes manifests. kubeconform would check
// them against the API schemas, but it downloads the schemas at run time
// and this machine reaches no network beyond the package registries; these
// checks cover how the objects refer to each other and to the binary.

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const k8sDir = "k8s"

type k8sObject struct {
	file string
	doc  map[string]any
}

func (o k8sObject) kind() string { return s(o.doc["kind"]) }
func (o k8sObject) name() string { return s(at(o.doc, "metadata", "name")) }

func readK8s(t *testing.T) (objs []k8sObject, kustomization map[string]any) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(k8sDir, "*.y*ml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s: %v", k8sDir, err)
	}
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			kustomization = readYAML1(t, f)
			continue
		}
		for _, d := range readYAML(t, f) {
			objs = append(objs, k8sObject{file: filepath.Base(f), doc: d})
		}
	}
	if kustomization == nil {
		t.Fatal("no k8s/kustomization.yaml")
	}
	return objs, kustomization
}

func find(objs []k8sObject, kind, name string) *k8sObject {
	for i := range objs {
		if objs[i].kind() == kind && (name == "" || objs[i].name() == name) {
			return &objs[i]
		}
	}
	return nil
}

// subset reports whether every key of sel has the same value in labels.
func subset(sel, labels map[string]any) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if s(labels[k]) != s(v) {
			return false
		}
	}
	return true
}

var k8sVarRE = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

func TestKubernetes(t *testing.T) {
	objs, kust := readK8s(t)
	img := checkDockerfile(t)

	// Every document is a named object, without a namespace.
	seen := map[string]bool{}
	for _, o := range objs {
		if s(o.doc["apiVersion"]) == "" || o.kind() == "" || o.name() == "" {
			t.Errorf("%s: a document without apiVersion, kind or metadata.name", o.file)
		}
		if ns := at(o.doc, "metadata", "namespace"); ns != nil {
			t.Errorf("%s: %s/%s sets namespace %v; the manifests are namespace-less", o.file, o.kind(), o.name(), ns)
		}
		key := o.kind() + "/" + o.name()
		if seen[key] {
			t.Errorf("%s: %s is defined twice", o.file, key)
		}
		seen[key] = true
	}

	// The kustomization lists exactly the manifest files.
	var files []string
	for _, o := range objs {
		if !slices.Contains(files, o.file) {
			files = append(files, o.file)
		}
	}
	res := strList(kust["resources"])
	slices.Sort(files)
	slices.Sort(res)
	if !slices.Equal(files, res) {
		t.Errorf("kustomization.yaml resources %q, manifests %q", res, files)
	}

	sts := find(objs, "StatefulSet", "eventfold")
	if sts == nil {
		t.Fatal("no StatefulSet eventfold")
	}
	spec := m(sts.doc["spec"])
	if r, _ := spec["replicas"].(int); r != 3 {
		t.Errorf("StatefulSet replicas %v, want 3", spec["replicas"])
	}
	if spec["podManagementPolicy"] != "Parallel" {
		t.Errorf("StatefulSet podManagementPolicy %v, want Parallel", spec["podManagementPolicy"])
	}
	podLabels := m(at(spec, "template", "metadata", "labels"))
	if !subset(m(at(spec, "selector", "matchLabels")), podLabels) {
		t.Errorf("StatefulSet selector %v does not match the pod labels %v", at(spec, "selector", "matchLabels"), podLabels)
	}
	pod := m(at(spec, "template", "spec"))
	if g, _ := pod["terminationGracePeriodSeconds"].(int); g != 60 {
		t.Errorf("terminationGracePeriodSeconds %v, want 60", pod["terminationGracePeriodSeconds"])
	}

	// The headless Service gives the pods their advertised names.
	peersName := s(spec["serviceName"])
	peers := find(objs, "Service", peersName)
	if peers == nil {
		t.Errorf("StatefulSet serviceName %q is not a Service here", peersName)
	} else if s(at(peers.doc, "spec", "clusterIP")) != "None" || at(peers.doc, "spec", "publishNotReadyAddresses") != true {
		t.Errorf("Service %s: want clusterIP None and publishNotReadyAddresses true (recovering pods still own partitions)", peersName)
	}
	if find(objs, "Service", "eventfold") == nil {
		t.Error("no client Service eventfold")
	}

	containers := l(pod["containers"])
	if len(containers) != 1 {
		t.Fatalf("%d containers, want 1", len(containers))
	}
	ctr := m(containers[0])
	where := "StatefulSet container " + s(ctr["name"])

	// Image: the one the kustomization sets.
	image := s(ctr["image"])
	imgName, _, _ := strings.Cut(image, ":")
	var kustImages []string
	for _, i := range l(kust["images"]) {
		kustImages = append(kustImages, s(at(i, "name")))
	}
	if !slices.Contains(kustImages, imgName) {
		t.Errorf("%s: image %q is not in the kustomization's images %q", where, image, kustImages)
	}

	// Ports, by name.
	ports := map[string]int{}
	for _, p := range l(ctr["ports"]) {
		ports[s(at(p, "name"))] = at(p, "containerPort").(int)
	}
	resolve := func(p any) int {
		if n, ok := p.(int); ok {
			return n
		}
		return ports[s(p)]
	}

	// Environment: envFrom ConfigMap first, env entries after (they win).
	env := map[string]string{}
	for _, ef := range l(ctr["envFrom"]) {
		name := s(at(ef, "configMapRef", "name"))
		cm := find(objs, "ConfigMap", name)
		if cm == nil {
			t.Errorf("%s: envFrom ConfigMap %q is not defined here", where, name)
			continue
		}
		for k, v := range m(cm.doc["data"]) {
			env[k] = s(v)
		}
	}
	defined := map[string]bool{}
	fieldRef := map[string]string{}
	for _, e := range l(ctr["env"]) {
		name := s(at(e, "name"))
		val := s(at(e, "value"))
		// $(VAR) expands only variables defined earlier in the list.
		for _, ref := range k8sVarRE.FindAllStringSubmatch(val, -1) {
			if !defined[ref[1]] {
				t.Errorf("%s: %s refers to $(%s), which is not defined before it", where, name, ref[1])
			}
		}
		defined[name] = true
		if fp := s(at(e, "valueFrom", "fieldRef", "fieldPath")); fp != "" {
			fieldRef[name] = fp
			val = "pod-0" // stands in for the downward API value
		}
		if at(e, "valueFrom", "secretKeyRef") != nil {
			if at(e, "valueFrom", "secretKeyRef", "optional") != true {
				t.Errorf("%s: %s comes from a Secret that is not optional; the manifests define none", where, name)
			}
			val = "secret"
		}
		env[name] = val
	}
	args := strList(ctr["args"])
	if len(args) == 0 {
		args = img.cmd
	}
	check := map[string]string{}
	for k, v := range env {
		check[k] = k8sVarRE.ReplaceAllString(v, "pod-0")
	}
	cli := checkServeConfig(t, where, args, check)
	port := listenPort(t, where, cli["http"])
	if ports["http"] != port {
		t.Errorf("%s: port http is %d, the node listens on %d", where, ports["http"], port)
	}

	if fieldRef["EVENTFOLD_NODE_ID"] != "metadata.name" {
		t.Errorf("%s: EVENTFOLD_NODE_ID should come from metadata.name", where)
	}
	adv := env["EVENTFOLD_ADVERTISE"]
	refs := k8sVarRE.FindStringSubmatch(adv)
	if refs == nil || fieldRef[refs[1]] != "metadata.name" {
		t.Errorf("%s: EVENTFOLD_ADVERTISE %q should name the pod through a variable from metadata.name", where, adv)
	} else {
		host, p := hostPort(t, where+" EVENTFOLD_ADVERTISE", strings.Replace(adv, refs[0], "pod-0", 1))
		if host != "pod-0."+peersName || p != port {
			t.Errorf("%s: EVENTFOLD_ADVERTISE %q: want http://$(%s).%s:%d (the pod's name under the headless Service)", where, adv, refs[1], peersName, port)
		}
	}
	if env["EVENTFOLD_BROKERS"] == "" {
		t.Errorf("%s: no EVENTFOLD_BROKERS", where)
	}
	if r, err := strconv.Atoi(env["EVENTFOLD_REPLICATION"]); err != nil || r != 3 {
		t.Errorf("%s: EVENTFOLD_REPLICATION %q, want 3", where, env["EVENTFOLD_REPLICATION"])
	}

	// Probes: the routes the API serves, on the port it listens on.
	for probe, path := range map[string]string{"readinessProbe": readyPath, "livenessProbe": healthPath} {
		get := at(ctr, probe, "httpGet")
		if get == nil {
			t.Errorf("%s: no %s.httpGet", where, probe)
			continue
		}
		if got := s(at(get, "path")); got != path {
			t.Errorf("%s: %s probes %q, want %s", where, probe, got, path)
		}
		if p := resolve(at(get, "port")); p != port {
			t.Errorf("%s: %s probes port %v (%d), the node listens on %d", where, probe, at(get, "port"), p, port)
		}
	}

	// Resources and security.
	for _, kind := range []string{"requests", "limits"} {
		for _, r := range []string{"cpu", "memory"} {
			if at(ctr, "resources", kind, r) == nil {
				t.Errorf("%s: no resources.%s.%s", where, kind, r)
			}
		}
	}
	sc, psc := m(ctr["securityContext"]), m(pod["securityContext"])
	if sc["readOnlyRootFilesystem"] != true || sc["allowPrivilegeEscalation"] != false {
		t.Errorf("%s: want readOnlyRootFilesystem true and allowPrivilegeEscalation false", where)
	}
	if sc["runAsNonRoot"] != true && psc["runAsNonRoot"] != true {
		t.Errorf("%s: not runAsNonRoot", where)
	}
	uid := psc["runAsUser"]
	if sc["runAsUser"] != nil {
		uid = sc["runAsUser"]
	}
	if uid != img.uid {
		t.Errorf("%s: runAsUser %v, the image's user is %d", where, uid, img.uid)
	}
	if psc["fsGroup"] != img.uid {
		t.Errorf("pod fsGroup %v: want %d so the volume is writable by the image's user", psc["fsGroup"], img.uid)
	}

	// Volumes: every mount is backed; the data dir is a 10Gi claim.
	claims := map[string]any{}
	for _, vct := range l(spec["volumeClaimTemplates"]) {
		claims[s(at(vct, "metadata", "name"))] = vct
	}
	vols := map[string]bool{}
	for _, v := range l(pod["volumes"]) {
		vols[s(at(v, "name"))] = true
	}
	dataBacked := false
	for _, vm := range l(ctr["volumeMounts"]) {
		name, path := s(at(vm, "name")), s(at(vm, "mountPath"))
		if claims[name] == nil && !vols[name] {
			t.Errorf("%s: mount %s uses volume %q, which is not defined", where, path, name)
		}
		if path == cli["data-dir"] {
			vct := claims[name]
			if vct == nil {
				t.Errorf("%s: the data dir %s is not on a volumeClaimTemplate", where, path)
				continue
			}
			dataBacked = true
			if got := s(at(vct, "spec", "resources", "requests", "storage")); got != "10Gi" {
				t.Errorf("volumeClaimTemplate %s requests %q, want 10Gi", name, got)
			}
			if !slices.Contains(strList(at(vct, "spec", "accessModes")), "ReadWriteOnce") {
				t.Errorf("volumeClaimTemplate %s: want ReadWriteOnce", name)
			}
		}
	}
	if !dataBacked {
		t.Errorf("%s: nothing is mounted at the data dir %q", where, cli["data-dir"])
	}

	// Services and the PodDisruptionBudget select the pods; Service ports
	// reach the container's.
	for _, o := range objs {
		switch o.kind() {
		case "Service":
			if !subset(m(at(o.doc, "spec", "selector")), podLabels) {
				t.Errorf("Service %s: selector %v does not match the pods %v", o.name(), at(o.doc, "spec", "selector"), podLabels)
			}
			for _, p := range l(at(o.doc, "spec", "ports")) {
				target := at(p, "targetPort")
				if target == nil {
					target = at(p, "port")
				}
				if resolve(target) != port {
					t.Errorf("Service %s: targetPort %v does not reach the node's port %d", o.name(), target, port)
				}
			}
		case "PodDisruptionBudget":
			if !subset(m(at(o.doc, "spec", "selector", "matchLabels")), podLabels) {
				t.Errorf("PodDisruptionBudget %s: selector does not match the pods", o.name())
			}
			if mu, _ := at(o.doc, "spec", "maxUnavailable").(int); mu != 1 {
				t.Errorf("PodDisruptionBudget %s: maxUnavailable %v, want 1", o.name(), at(o.doc, "spec", "maxUnavailable"))
			}
		}
	}
	for _, kind := range []string{"ConfigMap", "Service", "PodDisruptionBudget", "StatefulSet"} {
		if find(objs, kind, "") == nil {
			t.Errorf("no %s", kind)
		}
	}
}

// TestKustomizeBuild renders the kustomization when kubectl is installed
// (kustomize runs locally; no cluster needed).
func TestKustomizeBuild(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl not installed")
	}
	cmd := exec.Command(kubectl, "kustomize", k8sDir)
	cmd.Env = append(os.Environ(), "KUBECONFIG=/dev/null")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v\n%s", k8sDir, err, out)
	}
	if !strings.Contains(string(out), "kind: StatefulSet") || !strings.Contains(string(out), "image: eventfold:") {
		t.Errorf("kubectl kustomize output lacks the StatefulSet or its image:\n%s", out)
	}
}
