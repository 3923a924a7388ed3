package postrender

import (
	"bytes"
	"io"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/taowa/taowa/versions"
)

// BenchmarkRender measures one post-render of the chart fixture: what every helm install,
// upgrade and Argo CD sync of a tenant pays. BenchmarkYAMLRoundTrip is the baseline in the same
// run: decoding and re-encoding every document, the floor for any post-renderer that reads YAML.
//
//	go test -run '^$' -bench . -benchmem ./postrender
func BenchmarkRender(b *testing.B) {
	input := chartOutput(b, versions.Builtin().Default())
	b.SetBytes(int64(len(input)))
	for b.Loop() {
		if err := Render(bytes.NewReader(input), io.Discard, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkYAMLRoundTrip(b *testing.B) {
	input := chartOutput(b, versions.Builtin().Default())
	b.SetBytes(int64(len(input)))
	for b.Loop() {
		for _, doc := range splitDocuments(input) {
			document, err := yaml.YAMLToJSON(doc)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := yaml.JSONToYAML(document); err != nil {
				b.Fatal(err)
			}
		}
	}
}
