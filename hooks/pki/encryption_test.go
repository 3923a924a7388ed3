package pki

import (
	"context"
	"encoding/base64"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/yaml"
)

// With encryption at rest, the PKI hook writes an EncryptionConfiguration with a fresh AES key
// for Secrets (and identity, to read what was written before), once: a second run, or a run
// without the option, never changes or removes it.
func TestEncryptionConfigIsWrittenOnce(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset()
	cfg := testConfig()
	require.NoError(t, errOf(Ensure(ctx, client, cfg, io.Discard)))
	_, err := client.CoreV1().Secrets("tenants").Get(ctx, "tenant-a-"+SecretEncryption, metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "no encryption Secret unless asked: %v", err)

	cfg.EncryptionAtRest = true
	require.NoError(t, errOf(Ensure(ctx, client, cfg, io.Discard)))
	first := secretData(t, client, SecretEncryption)[KeyEncryptionConfig]
	var config struct {
		Kind      string
		Resources []struct {
			Resources []string
			Providers []map[string]struct {
				Keys []struct{ Name, Secret string }
			}
		}
	}
	require.NoError(t, yaml.Unmarshal(first, &config))
	assert.Equal(t, "EncryptionConfiguration", config.Kind)
	require.Len(t, config.Resources, 1)
	assert.Equal(t, []string{"secrets"}, config.Resources[0].Resources)
	providers := config.Resources[0].Providers
	require.Len(t, providers, 2)
	keys := providers[0]["aescbc"].Keys
	require.Len(t, keys, 1)
	assert.Equal(t, EncryptionKeyName, keys[0].Name)
	key, err := base64.StdEncoding.DecodeString(keys[0].Secret)
	require.NoError(t, err)
	assert.Len(t, key, 32, "an AES-256 key")
	assert.Contains(t, providers[1], "identity", "Secrets written before encryption stay readable")

	require.NoError(t, errOf(Ensure(ctx, client, cfg, io.Discard)))
	assert.Equal(t, first, secretData(t, client, SecretEncryption)[KeyEncryptionConfig], "the key never changes")
	cfg.EncryptionAtRest = false
	require.NoError(t, errOf(Ensure(ctx, client, cfg, io.Discard)))
	assert.Equal(t, first, secretData(t, client, SecretEncryption)[KeyEncryptionConfig], "turning the option off keeps the key")
}
