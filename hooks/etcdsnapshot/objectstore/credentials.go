package objectstore

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// The keys of the Secrets that hold a store's credentials and its encryption key
// (etcd.snapshots.objectStore.credentialsSecret and encryptionKeySecret): the chart mounts them
// as files of these names, the hooks and the CLI read them through the API.
const (
	KeyAccessKey     = "access-key"
	KeySecretKey     = "secret-key"
	KeyCA            = "ca.crt"
	KeyEncryptionKey = "key"
)

// Which Secret a Reader reads from.
const (
	FromCredentials   = "credentials"
	FromEncryptionKey = "encryption key"
)

// Reader reads key of the Secret from names (FromCredentials, FromEncryptionKey), and says where
// it read it for messages; an error that wraps os.ErrNotExist says the key is missing.
type Reader func(from, key string) (data []byte, where string, err error)

// Open opens the store at cfg (its Endpoint set) with the credentials read gives and, when
// encrypted, the encryption key. What is wrong here is wrong in the values or the Secrets, which
// retrying cannot change: a ConfigError.
func Open(cfg Config, read Reader, encrypted bool) (*Store, error) {
	refused := func(err error) (*Store, error) { return nil, &ConfigError{Err: err} }
	credential := func(key string) (string, error) {
		b, where, err := read(FromCredentials, key)
		if err != nil {
			return "", fmt.Errorf("object store credentials: %w (the Secret etcd.snapshots.objectStore.credentialsSecret names must exist and hold keys %s and %s)",
				err, KeyAccessKey, KeySecretKey)
		}
		if s := strings.TrimSpace(string(b)); s != "" {
			return s, nil
		}
		return "", fmt.Errorf("object store credentials: %s is empty", where)
	}
	var err error
	if cfg.AccessKey, err = credential(KeyAccessKey); err != nil {
		return refused(err)
	}
	if cfg.SecretKey, err = credential(KeySecretKey); err != nil {
		return refused(err)
	}
	if ca, _, err := read(FromCredentials, KeyCA); err == nil {
		cfg.CA = ca
	} else if !errors.Is(err, os.ErrNotExist) {
		return refused(err)
	}
	if encrypted {
		b, where, err := read(FromEncryptionKey, KeyEncryptionKey)
		if err != nil {
			return refused(fmt.Errorf("snapshot encryption key: %w", err))
		}
		if cfg.EncryptionKey, err = ParseEncryptionKey(b); err != nil {
			return refused(fmt.Errorf("%s: %w", where, err))
		}
	}
	store, err := New(cfg)
	if err != nil {
		return refused(err)
	}
	return store, nil
}

// ParseEncryptionKey reads an AES-256 key written as 64 hex digits (`openssl rand -hex 32`).
func ParseEncryptionKey(b []byte) ([]byte, error) {
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != EncryptionKeySize {
		return nil, fmt.Errorf("snapshot encryption key: want %d hex digits (openssl rand -hex %d), not %d bytes that are not",
			2*EncryptionKeySize, EncryptionKeySize, len(b))
	}
	return key, nil
}

// SecretsReader reads the Secrets credentials and encryptionKey in namespace through the API,
// each once; nothing of them is written to disk.
func SecretsReader(ctx context.Context, client kubernetes.Interface, namespace, credentials, encryptionKey string) Reader {
	secrets := map[string]*corev1.Secret{}
	return func(from, key string) ([]byte, string, error) {
		name := credentials
		if from == FromEncryptionKey {
			name = encryptionKey
		}
		where := fmt.Sprintf("Secret %s/%s, key %s", namespace, name, key)
		if secrets[name] == nil {
			got, err := client.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return nil, where, fmt.Errorf("Secret %s/%s: %w", namespace, name, err)
			}
			secrets[name] = got
		}
		v, ok := secrets[name].Data[key]
		if !ok {
			return nil, where, fmt.Errorf("Secret %s/%s has no key %s: %w", namespace, name, key, os.ErrNotExist)
		}
		return v, where, nil
	}
}
