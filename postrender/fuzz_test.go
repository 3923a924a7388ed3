package postrender

import (
	"bytes"
	"testing"

	"github.com/taowa/taowa/versions"
)

// FuzzRender feeds Render arbitrary manifests. It must not panic, must write nothing when it
// fails, and what it writes must render again to the same bytes: rewriting is idempotent.
//
//	go test -fuzz=FuzzRender -fuzztime=3m ./postrender
func FuzzRender(f *testing.F) {
	f.Add(chartOutput(f, versions.Builtin().Default()))
	f.Add([]byte(workloadYAML("etcd", "1.33.13", `{"feature-gates": "CompactHashCheck=true"}`, "--feature-gates=InitialCorruptCheck=true")))
	f.Add([]byte(workloadYAML("kube-apiserver", "1.37.2", `{"v": 2}`, "--tls-sni-cert-key=a", "--tls-sni-cert-key=b") + "---\n# c\n--- {a: 1}\n"))
	f.Add([]byte("--- |\n  text\n...\n---\nkind: [\n"))
	f.Add([]byte(workloadYAML("kube-scheduler", "1.31.13", "", "--v=2") + "        command: [kube-scheduler]\n"))
	f.Fuzz(func(t *testing.T, input []byte) {
		var first bytes.Buffer
		if err := Render(bytes.NewReader(input), &first, Options{}); err != nil {
			if first.Len() > 0 {
				t.Fatalf("Render failed (%v) but wrote %q", err, first.Bytes())
			}
			return
		}
		var second bytes.Buffer
		if err := Render(bytes.NewReader(first.Bytes()), &second, Options{}); err != nil {
			t.Fatalf("Render's own output fails to render: %v\ninput:\n%s\noutput:\n%s", err, input, first.Bytes())
		}
		if !bytes.Equal(first.Bytes(), second.Bytes()) {
			t.Fatalf("rendering twice changed the output\ninput:\n%s\nonce:\n%s\ntwice:\n%s", input, first.Bytes(), second.Bytes())
		}
	})
}
