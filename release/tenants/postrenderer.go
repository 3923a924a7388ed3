package tenants

import (
	"bytes"

	"github.com/taowa/taowa/postrender"
)

// PostRenderer is Helm's post-render step run in process: the same postrender.Render that the
// taowa-postrender binary runs, without a binary to find on PATH or a process to start.
type PostRenderer struct{}

// Run implements helm.sh/helm/v3/pkg/postrender.PostRenderer.
func (PostRenderer) Run(rendered *bytes.Buffer) (*bytes.Buffer, error) {
	out := new(bytes.Buffer)
	if err := postrender.Render(rendered, out, postrender.Options{}); err != nil {
		// The manifests follow from the spec and the chart alone: asking again is refused again.
		return nil, &RefusedError{Err: err}
	}
	return out, nil
}
