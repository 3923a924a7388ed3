package postrender

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The chart writes the contract's keys in its templates; this catches a rename on either side.
func TestChartUsesTheContractKeys(t *testing.T) {
	templates := filepath.Join("..", "charts", "tenant-master", "templates")
	helpers, err := os.ReadFile(filepath.Join(templates, "_helpers.tpl"))
	require.NoError(t, err)
	for _, key := range []string{LabelComponent, AnnotationContainer, AnnotationKubernetesVersion, AnnotationExtraArgs} {
		assert.Contains(t, string(helpers), key+": ", "_helpers.tpl does not write %s", key)
	}
	etcd, err := os.ReadFile(filepath.Join(templates, "etcd.yaml"))
	require.NoError(t, err)
	assert.Contains(t, string(etcd), AnnotationSetImageTag+`: "true"`)
}
