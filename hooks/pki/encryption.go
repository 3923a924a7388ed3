package pki

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// EncryptionKeyName is the name of the first key the encryption Secret holds. Rotation adds keys
// by other names (the chart README's "Encryption at rest").
const EncryptionKeyName = "key1"

// encryptionConfig is the apiserver's EncryptionConfiguration: Secrets are written with AES-CBC
// under key, and read whether encrypted or not (identity), so that a tenant that had none reads
// its old Secrets until they are rewritten.
func encryptionConfig(key []byte) []byte {
	return fmt.Appendf(nil, `apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets]
    providers:
      - aescbc:
          keys:
            - name: %s
              secret: %s
      - identity: {}
`, EncryptionKeyName, base64.StdEncoding.EncodeToString(key))
}

// ensureEncryptionConfig creates the encryption Secret with a fresh 32-byte key when it is
// missing, and never changes it: the key is the only way to read what it encrypted.
func (s *store) ensureEncryptionConfig(ctx context.Context) error {
	_, err := s.getOrCreate(ctx, SecretEncryption, func() (*corev1.Secret, error) {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("encryption key: %w", err)
		}
		return &corev1.Secret{Type: corev1.SecretTypeOpaque, Data: map[string][]byte{KeyEncryptionConfig: encryptionConfig(key)}}, nil
	})
	return err
}
