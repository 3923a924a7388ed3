package postrender

import (
	"bytes"
	"io"
	"testing"

	"github.com/taowa/taowa/versions"
)

// BenchmarkRender measures one post-render of the chart fixture: what every helm install,
// upgrade and Argo CD sync of a tenant pays. BenchmarkSplit is the baseline in the same run: the
// cost of only cutting the stream into documents.
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

func BenchmarkSplit(b *testing.B) {
	input := chartOutput(b, versions.Builtin().Default())
	b.SetBytes(int64(len(input)))
	for b.Loop() {
		splitDocuments(input)
	}
}
