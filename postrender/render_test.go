package postrender

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/taowa/taowa/versions"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.yaml from the current output")

// chartOutput returns testdata/tenant-master.yaml stating Kubernetes version v.
func chartOutput(t testing.TB, v versions.Version) []byte {
	t.Helper()
	input, err := os.ReadFile("testdata/tenant-master.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return bytes.ReplaceAll(input, []byte("@KUBERNETES_VERSION@"), []byte(v.String()))
}

func render(t testing.TB, input []byte) ([]byte, error) {
	t.Helper()
	var out bytes.Buffer
	err := Render(bytes.NewReader(input), &out, Options{})
	if err != nil && out.Len() > 0 {
		t.Errorf("Render failed (%v) but wrote %d bytes", err, out.Len())
	}
	return out.Bytes(), err
}

// TestGolden renders the chart output for every supported minor; run with -update after a
// deliberate change and review the diff of testdata/golden.
func TestGolden(t *testing.T) {
	for _, release := range versions.Builtin().Releases() {
		t.Run(release.Kubernetes.String(), func(t *testing.T) {
			got, err := render(t, chartOutput(t, release.Kubernetes))
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "golden", release.Kubernetes.MajorMinor().String()+".yaml")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./postrender -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s (go test ./postrender -update rewrites it):\n%s", golden, lineDiff(want, got))
			}
		})
	}
}

// lineDiff shows the first lines where want and got differ.
func lineDiff(want, got []byte) string {
	wantLines, gotLines := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	var diff []string
	for i := 0; i < max(len(wantLines), len(gotLines)) && len(diff) < 20; i++ {
		var w, g string
		if i < len(wantLines) {
			w = wantLines[i]
		}
		if i < len(gotLines) {
			g = gotLines[i]
		}
		if w != g {
			diff = append(diff, fmt.Sprintf("line %d:\n  want: %s\n  got:  %s", i+1, w, g))
		}
	}
	return strings.Join(diff, "\n")
}

// Documents Render does not rewrite must come out byte for byte, comments and order included.
func TestUntouchedDocumentsPassThrough(t *testing.T) {
	input := chartOutput(t, versions.Builtin().Default())
	output, err := render(t, input)
	if err != nil {
		t.Fatal(err)
	}
	in, out := splitDocuments(input), splitDocuments(output)
	if len(in) != len(out) {
		t.Fatalf("%d documents in, %d out", len(in), len(out))
	}
	var untouched int
	for i := range in {
		w, err := parseWorkload(in[i])
		if err != nil {
			t.Fatal(err)
		}
		if w != nil {
			if !bytes.HasPrefix(out[i], header(in[i])) || bytes.Equal(in[i], out[i]) {
				t.Errorf("document %d: a rewritten document keeps its header and changes", i+1)
			}
			continue
		}
		untouched++
		if !bytes.Equal(in[i], out[i]) {
			t.Errorf("document %d changed:\n%s\nbecame\n%s", i+1, in[i], out[i])
		}
	}
	if untouched < 4 { // the leading comment, ServiceAccount, ConfigMap and Job
		t.Errorf("only %d untouched documents; the fixture should exercise pass-through", untouched)
	}
}

// workloadYAML is a minimal marked Deployment; tests vary its parts.
func workloadYAML(component, version, extraArgs string, args ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: apps/v1
kind: Deployment
metadata: {name: %[1]s, namespace: t}
spec:
  template:
    metadata:
      labels: {taowa.io/component: %[1]s}
      annotations:
        taowa.io/container: main
`, component)
	if version != "" {
		fmt.Fprintf(&b, "        taowa.io/kubernetes-version: %q\n", version)
	}
	if extraArgs != "" {
		fmt.Fprintf(&b, "        taowa.io/extra-args: '%s'\n", extraArgs)
	}
	b.WriteString("    spec:\n      containers:\n      - name: main\n        args:\n")
	for _, a := range args {
		fmt.Fprintf(&b, "        - %q\n", a)
	}
	return b.String()
}

// renderedArgs renders one workload and returns its container's args.
func renderedArgs(t *testing.T, doc string) []string {
	t.Helper()
	out, err := render(t, []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	w, err := parseWorkload(out)
	if err != nil || w == nil {
		t.Fatalf("output is not a marked workload (%v):\n%s", err, out)
	}
	container, err := w.container("main")
	if err != nil {
		t.Fatal(err)
	}
	args, err := stringList(container, "args")
	if err != nil {
		t.Fatal(err)
	}
	return args
}

func TestRewrite(t *testing.T) {
	for _, tc := range []struct {
		name string
		doc  string
		want []string
	}{
		{
			name: "user wins over the chart, output sorted",
			doc:  workloadYAML("kube-scheduler", "1.37.2", `{"v": "4", "leader-elect": false}`, "--v=2", "--leader-elect=true", "--bind-address=127.0.0.1"),
			want: []string{"--bind-address=127.0.0.1", "--leader-elect=false", "--v=4"},
		},
		{
			name: "chart flags the version does not know are dropped",
			doc:  workloadYAML("kube-apiserver", "1.33.13", "", "--cloud-provider=external", "--tls-curve-preferences=29", "--etcd-servers=https://e:2379"),
			want: []string{"--etcd-servers=https://e:2379"},
		},
		{
			name: "chart gates: unknown and locked ones dropped, user gates merged",
			doc: workloadYAML("kube-apiserver", "1.37.2", `{"feature-gates": "ContextualLogging=false, WatchList=TRUE"}`,
				"--feature-gates=ServerSideApply=true,ContextualLogging=true", "--feature-gates=OrderedNamespaceDeletion=true,MutatingAdmissionPolicy=true"),
			want: []string{"--feature-gates=ContextualLogging=false,MutatingAdmissionPolicy=true,WatchList=true"},
		},
		{
			name: "a user gate at its locked value is kept",
			doc:  workloadYAML("kube-apiserver", "1.35.4", `{"feature-gates": "OrderedNamespaceDeletion=true"}`),
			want: []string{"--feature-gates=OrderedNamespaceDeletion=true"},
		},
		{
			name: "repeated chart flags are kept in order; a user value replaces them all",
			doc:  workloadYAML("kube-apiserver", "1.37.2", `{"tls-sni-cert-key": "c"}`, "--tls-sni-cert-key=b", "--admission-control-config-file=x", "--tls-sni-cert-key=a"),
			want: []string{"--admission-control-config-file=x", "--tls-sni-cert-key=c"},
		},
		{
			name: "repeated chart flags without a user value",
			doc:  workloadYAML("kube-apiserver", "1.37.2", "", "--tls-sni-cert-key=b", "--tls-sni-cert-key=a"),
			want: []string{"--tls-sni-cert-key=b", "--tls-sni-cert-key=a"},
		},
		{
			name: "etcd 3.6: old names renamed, flags turned gates, required settings added",
			doc:  workloadYAML("etcd", "1.36.3", `{"experimental-watch-progress-notify-interval": "2s"}`, "--experimental-stop-grpc-service-on-defrag=true", "--experimental-compaction-batch-limit=500"),
			want: []string{"--compaction-batch-limit=500", "--feature-gates=InitialCorruptCheck=true,StopGRPCServiceOnDefrag=true", "--watch-progress-notify-interval=2s"},
		},
		{
			name: "etcd 3.5: new names and gates turned back into the 3.5 flags",
			doc:  workloadYAML("etcd", "1.33.13", `{"feature-gates": "CompactHashCheck=true"}`, "--compaction-batch-limit=500", "--feature-gates=InitialCorruptCheck=false", "--enable-v2=false"),
			want: []string{"--enable-v2=false", "--experimental-compact-hash-check-enabled=true", "--experimental-compaction-batch-limit=500", "--experimental-initial-corrupt-check=false", "--experimental-watch-progress-notify-interval=5s"},
		},
		{
			name: "etcd 3.6 drops flags 3.6 removed",
			doc:  workloadYAML("etcd", "1.37.2", "", "--enable-v2=false", "--feature-gates=InitialCorruptCheck=false"),
			want: []string{"--feature-gates=InitialCorruptCheck=false", "--watch-progress-notify-interval=5s"},
		},
		{
			name: "user values: numbers, booleans and empty strings as written",
			doc:  workloadYAML("kube-scheduler", "1.37.2", `{"kube-api-qps": 50.5, "profiling": true, "kubeconfig": ""}`),
			want: []string{"--kube-api-qps=50.5", "--kubeconfig=", "--profiling=true"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := renderedArgs(t, tc.doc)
			if !slices.Equal(got, tc.want) {
				t.Errorf("args = %q\nwant   %q", got, tc.want)
			}
		})
	}
}

func TestFlagsInCommandStayInCommand(t *testing.T) {
	doc := strings.Replace(workloadYAML("kube-scheduler", "1.37.2", `{"v": "3"}`), "        args:\n",
		"        command: [kube-scheduler, --v=1, --bind-address=0.0.0.0]\n", 1)
	out, err := render(t, []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	w, _ := parseWorkload(out)
	container, _ := w.container("main")
	command, _ := stringList(container, "command")
	if want := []string{"kube-scheduler", "--bind-address=0.0.0.0", "--v=3"}; !slices.Equal(command, want) {
		t.Errorf("command = %q, want %q", command, want)
	}
	if _, hasArgs := container["args"]; hasArgs {
		t.Error("flags kept in command must not move to args")
	}
}

func TestSetImageTag(t *testing.T) {
	for _, tc := range []struct{ version, image, want string }{
		{"1.33.13", "registry.k8s.io/etcd:3.6.16-0", "registry.k8s.io/etcd:3.5.24-0"},
		{"1.37.2", "localhost:5000/mirror/etcd", "localhost:5000/mirror/etcd:3.6.16-0"},
		{"1.37.2", "localhost:5000/etcd:old", "localhost:5000/etcd:3.6.16-0"},
	} {
		doc := strings.Replace(workloadYAML("etcd", tc.version, ""), "      - name: main\n",
			"      - name: main\n        image: "+tc.image+"\n", 1)
		doc = strings.Replace(doc, "taowa.io/container: main\n", "taowa.io/container: main\n        taowa.io/set-image-tag: \"true\"\n", 1)
		out, err := render(t, []byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		w, _ := parseWorkload(out)
		container, _ := w.container("main")
		if container["image"] != tc.want {
			t.Errorf("%s at %s: image %v, want %s", tc.image, tc.version, container["image"], tc.want)
		}
	}
}

func TestHeaders(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{"---\n# Source: x.yaml\n\n# more\nkind: A\n", "---\n# Source: x.yaml\n\n# more\n"},
		{"# first\nkind: A\n", "# first\n"},
		{"--- # a comment\nkind: A\n", "--- # a comment\n"},
		{"--- {kind: A}\n", "---\n"},
		{"kind: A", ""},
		{"# only a comment", ""},
	} {
		if got := string(header([]byte(tc.doc))); got != tc.want {
			t.Errorf("header(%q) = %q, want %q", tc.doc, got, tc.want)
		}
	}
	if got := sourceOf([]byte("---\n# Source: tenant-master/templates/etcd.yaml\nkind: A\n")); got != " (tenant-master/templates/etcd.yaml)" {
		t.Errorf("sourceOf = %q", got)
	}
}

func TestSplitDocuments(t *testing.T) {
	stream := "a: 1\n---\nb: 2\n--- # c\nc: 3\n----\n  ---\n---\r\nd: 4\n---"
	want := []string{"a: 1\n", "---\nb: 2\n", "--- # c\nc: 3\n----\n  ---\n", "---\r\nd: 4\n", "---"}
	got := splitDocuments([]byte(stream))
	if len(got) != len(want) {
		t.Fatalf("split into %q, want %q", got, want)
	}
	for i := range want {
		if string(got[i]) != want[i] {
			t.Errorf("document %d = %q, want %q", i, got[i], want[i])
		}
	}
}

// TestEtcdPodTemplateOnlyFollowsEtcd: a Kubernetes upgrade that keeps etcd's release leaves etcd's
// Pod template byte-identical, so the StatefulSet restarts nothing; a new etcd release changes it.
func TestEtcdPodTemplateOnlyFollowsEtcd(t *testing.T) {
	etcdTemplate := func(version string) string {
		v, err := versions.Parse(version)
		if err != nil {
			t.Fatal(err)
		}
		out, err := render(t, chartOutput(t, v))
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range splitDocuments(out) {
			w, err := parseWorkload(doc)
			if err != nil {
				t.Fatal(err)
			}
			if w != nil && w.component == versions.Etcd {
				return fmt.Sprint(w.object["spec"].(map[string]any)["template"])
			}
		}
		t.Fatalf("no etcd workload in the output for %s", version)
		return ""
	}
	if etcdTemplate("1.36.3") != etcdTemplate("1.37.2") {
		t.Error("1.36.3 and 1.37.2 both run etcd 3.6.16, but etcd's Pod template differs: an upgrade would restart etcd")
	}
	if etcdTemplate("1.33.13") == etcdTemplate("1.34.4") {
		t.Error("1.33 runs etcd 3.5 and 1.34 etcd 3.6, but etcd's Pod template is the same")
	}
}
