package postrender

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"testing/iotest"
)

func TestRenderErrors(t *testing.T) {
	apiserver := func(version, extra string, args ...string) string {
		return workloadYAML("kube-apiserver", version, extra, args...)
	}
	for _, tc := range []struct {
		name     string
		input    string
		errWants []string
	}{
		{"empty input", "", []string{"no version found"}},
		{"no marked workload", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", []string{"no version found"}},
		{"marked workload without a version", apiserver("", ""), []string{"no version found"}},
		{"not YAML", "---\n# Source: tenant-master/templates/x.yaml\nkind: [\n", []string{"document 1 (tenant-master/templates/x.yaml)", "not YAML"}},
		{"not YAML after a good document", apiserver("1.37.2", "") + "---\na: b: c\n", []string{"document 2", "not YAML"}},
		{"bad version", apiserver("1.37", ""), []string{"Deployment t/kube-apiserver", AnnotationKubernetesVersion, `"1.37"`}},
		{"version not a string", strings.Replace(apiserver("1.37.2", ""), `"1.37.2"`, "1.37", 1), []string{AnnotationKubernetesVersion, "not a string"}},
		{"unsupported version", apiserver("1.30.14", ""), []string{"1.30.14", "unsupported Kubernetes minor 1.30", "1.31 to 1.37"}},
		{"workloads disagree", apiserver("1.37.2", "") + "---\n" + workloadYAML("etcd", "1.36.3", ""),
			[]string{"Deployment t/kube-apiserver states Kubernetes 1.37.2", "Deployment t/etcd states 1.36.3", "must agree"}},
		{"unknown component", workloadYAML("kubelet", "1.37.2", ""), []string{`taowa.io/component="kubelet"`, "is not one of"}},
		{"container annotation missing", strings.Replace(apiserver("1.37.2", ""), "taowa.io/container: main", "other: x", 1),
			[]string{AnnotationContainer, "missing"}},
		{"container not found", strings.Replace(apiserver("1.37.2", ""), "taowa.io/container: main", "taowa.io/container: api", 1),
			[]string{`container "api"`}},
		{"container annotation not a string", strings.Replace(apiserver("1.37.2", ""), "taowa.io/container: main", "taowa.io/container: 7", 1),
			[]string{AnnotationContainer, "not a string"}},
		{"arg not a flag", apiserver("1.37.2", "", "kube-apiserver", "--v=2"), []string{"container main", `"kube-apiserver" is not of the form --name=value`}},
		{"flag without value", apiserver("1.37.2", "", "--profiling"), []string{`"--profiling" is not of the form --name=value`}},
		{"flags in command and args", strings.Replace(apiserver("1.37.2", "", "--v=2"), "        args:\n", "        command: [kube-apiserver, --v=1]\n        args:\n", 1),
			[]string{"flags in both command and args"}},
		{"args not a list", strings.Replace(apiserver("1.37.2", ""), "        args:\n", "        args: --v=2\n", 1), []string{"args is not a list"}},
		{"args item not a string", apiserver("1.37.2", "") + "        - 7\n", []string{"args[0] is 7, not a string"}},
		{"extra-args not JSON", apiserver("1.37.2", "v=2"), []string{AnnotationExtraArgs, "JSON object"}},
		{"extra-args flag with dashes", apiserver("1.37.2", `{"--v": "2"}`), []string{`flag name "--v"`, "without dashes"}},
		{"extra-args value an object", apiserver("1.37.2", `{"v": {"a": 1}}`), []string{"flag v", "not a string, number or boolean"}},
		{"user flag unknown to the version", apiserver("1.33.13", `{"cloud-provider": "external"}`),
			[]string{AnnotationExtraArgs, "kube-apiserver 1.33.13 has no flag --cloud-provider"}},
		{"every unknown user flag is reported", apiserver("1.37.2", `{"insecure-port": "0", "no-such-flag": "x", "v": "2"}`),
			[]string{"has no flag --insecure-port", "has no flag --no-such-flag"}},
		{"user flag unknown to etcd 3.5", workloadYAML("etcd", "1.32.2", `{"max-learners": "2"}`),
			[]string{"etcd 3.5.24 (Kubernetes 1.32.2) has no flag --max-learners"}},
		{"user gate unknown to the version", apiserver("1.32.2", `{"feature-gates": "ServerSideApply=true"}`),
			[]string{"kube-apiserver 1.32.2 has no feature gate ServerSideApply"}},
		{"user gate on etcd 3.5", workloadYAML("etcd", "1.31.13", `{"feature-gates": "SetMemberLocalAddr=true"}`),
			[]string{"etcd 3.5.24 (Kubernetes 1.31.13) has no feature gate SetMemberLocalAddr"}},
		{"user gate against its lock", apiserver("1.35.4", `{"feature-gates": "OrderedNamespaceDeletion=false"}`),
			[]string{"feature gate OrderedNamespaceDeletion is locked to true in kube-apiserver 1.35.4"}},
		{"user gate not boolean", apiserver("1.37.2", `{"feature-gates": "WatchList=yes"}`), []string{`"WatchList=yes" is not of the form Name=true`}},
		{"user gate without name", apiserver("1.37.2", `{"feature-gates": "=true"}`), []string{`"=true" is not of the form Name=true`}},
		{"user flag turned gate needs a boolean", workloadYAML("etcd", "1.37.2", `{"experimental-initial-corrupt-check": "sometimes"}`),
			[]string{"feature gate InitialCorruptCheck (from flag --experimental-initial-corrupt-check) needs true or false"}},
		{"set-image-tag not boolean", strings.Replace(apiserver("1.37.2", ""), "taowa.io/container: main", "taowa.io/container: main\n        taowa.io/set-image-tag: \"yes\"", 1),
			[]string{AnnotationSetImageTag, `"yes"`, "want true or false"}},
		{"set-image-tag on an image pinned by digest", strings.Replace(strings.Replace(apiserver("1.37.2", ""), "taowa.io/container: main", "taowa.io/container: main\n        taowa.io/set-image-tag: \"true\"", 1),
			"      - name: main\n", "      - name: main\n        image: registry.k8s.io/kube-apiserver@sha256:0123\n", 1),
			[]string{AnnotationSetImageTag, "pinned by digest"}},
		{"chart gate not boolean", apiserver("1.37.2", "", "--feature-gates=WatchList"), []string{"container main", `"WatchList" is not of the form`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := render(t, []byte(tc.input))
			if err == nil {
				t.Fatal("Render succeeded, want an error")
			}
			for _, want := range tc.errWants {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestRenderReadError(t *testing.T) {
	var out bytes.Buffer
	err := Render(iotest.ErrReader(errors.New("pipe closed")), &out, Options{})
	if err == nil || !strings.Contains(err.Error(), "read manifests: pipe closed") || out.Len() > 0 {
		t.Errorf("Render = %v with %d bytes written; want the read error and nothing written", err, out.Len())
	}
}
