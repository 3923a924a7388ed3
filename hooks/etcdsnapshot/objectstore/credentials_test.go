package objectstore

import (
	"fmt"
	"maps"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOpenRefusesBadCredentials(t *testing.T) {
	fake := newFakeS3(t)
	key := strings.Repeat("ab", EncryptionKeySize)
	reader := func(secrets map[string]string) Reader {
		return func(from, k string) ([]byte, string, error) {
			where := from + "/" + k
			v, ok := secrets[where]
			if !ok {
				return nil, where, fmt.Errorf("%s missing: %w", where, os.ErrNotExist)
			}
			return []byte(v), where, nil
		}
	}
	good := map[string]string{"credentials/access-key": testAccessKey + "\n", "credentials/secret-key": testSecretKey, "encryption key/key": key}
	s, err := Open(fake.config(), reader(good), true)
	require.NoError(t, err, "no ca.crt is no private CA")
	require.NotNil(t, s.key)
	require.NoError(t, s.Check(t.Context()), "the access key read without its newline")

	for name, tc := range map[string]struct {
		edit func(map[string]string)
		want string
	}{
		"no access key":     {func(m map[string]string) { delete(m, "credentials/access-key") }, "credentials/access-key missing"},
		"empty secret key":  {func(m map[string]string) { m["credentials/secret-key"] = " \n" }, "object store credentials: credentials/secret-key is empty"},
		"no encryption key": {func(m map[string]string) { delete(m, "encryption key/key") }, "snapshot encryption key: encryption key/key missing"},
		"short key":         {func(m map[string]string) { m["encryption key/key"] = "abcd" }, "encryption key/key: snapshot encryption key: want 64 hex digits"},
	} {
		t.Run(name, func(t *testing.T) {
			secrets := maps.Clone(good)
			tc.edit(secrets)
			_, err := Open(fake.config(), reader(secrets), true)
			assert.ErrorContains(t, err, tc.want)
			var refused *ConfigError
			assert.ErrorAs(t, err, &refused, "no retry mends the values or Secrets")
		})
	}
}
