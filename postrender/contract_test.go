package postrender

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/taowa/taowa/versions"
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

// values.schema.json names the supported versions as a pattern; the version table is the truth.
func TestValuesSchemaAcceptsExactlyTheSupportedMinors(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "charts", "tenant-master", "values.schema.json"))
	require.NoError(t, err)
	var schema struct {
		Properties struct {
			KubernetesVersion struct {
				Pattern string `json:"pattern"`
			} `json:"kubernetesVersion"`
		} `json:"properties"`
	}
	require.NoError(t, json.Unmarshal(data, &schema))
	pattern := regexp.MustCompile(schema.Properties.KubernetesVersion.Pattern)
	supported := versions.Supported()
	for _, m := range supported {
		assert.True(t, pattern.MatchString(m.String()+".0"), "the schema refuses supported minor %s", m)
	}
	first, last := supported[0], supported[len(supported)-1]
	for _, outside := range []versions.Minor{{Major: first.Major, Minor: first.Minor - 1}, {Major: last.Major, Minor: last.Minor + 1}} {
		assert.False(t, pattern.MatchString(outside.String()+".0"), "the schema accepts unsupported minor %s", outside)
	}
}
