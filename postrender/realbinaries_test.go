//go:build realbinaries

package postrender

import (
	"strings"
	"testing"

	"github.com/taowa/taowa/versions"
	"github.com/taowa/taowa/versions/versionstest"
)

// TestRenderedCommandLinesAgainstBinaries renders the chart fixture for every supported minor
// and hands each rewritten command line to that minor's real binary: every flag must be one the
// binary lists in --help (or accepts though hidden), and the binary must parse the whole
// command line, feature gates included.
//
//	go test -tags realbinaries -run RenderedCommandLines -v ./postrender
func TestRenderedCommandLinesAgainstBinaries(t *testing.T) {
	// The kubelet expands the fixture's $(VAR) references from the Pod's environment.
	kubeletExpansion := strings.NewReplacer("$(POD_IP)", "10.0.0.10", "$(POD_NAME)", "tenant-a-etcd-0")
	for _, release := range versions.Builtin().Releases() {
		output, err := render(t, chartOutput(t, release.Kubernetes))
		if err != nil {
			t.Fatalf("%s: %v", release.Kubernetes, err)
		}
		for _, doc := range splitDocuments(output) {
			w, err := parseWorkload(doc)
			if err != nil {
				t.Fatal(err)
			}
			if w == nil {
				continue
			}
			t.Run(release.Kubernetes.String()+"/"+string(w.component), func(t *testing.T) {
				binary := versionstest.Binary(t, w.component, release)
				containerName, _, _ := w.annotation(AnnotationContainer)
				container, err := w.container(containerName)
				if err != nil {
					t.Fatal(err)
				}
				commandLine, err := containerCommandLine(container)
				if err != nil {
					t.Fatal(err)
				}
				help := versionstest.HelpFlags(t, binary)
				var args []string
				for _, f := range commandLine.flags {
					args = append(args, "--"+f.name+"="+kubeletExpansion.Replace(f.value))
					if help[f.name] {
						continue
					}
					if out, err := versionstest.ParseOnly(binary, "--"+f.name+"="+f.value); err != nil && versionstest.Rejects(out, f.name) {
						t.Errorf("%s does not know --%s, which the post-renderer emits for Kubernetes %s", binary, f.name, release.Kubernetes)
					}
				}
				if out, err := versionstest.ParseOnly(binary, args...); err != nil {
					t.Errorf("%s refuses the rendered command line: %v\n%s\n%s", binary, err, strings.Join(args, " "), out)
				}
			})
		}
	}
}
