package pki

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// RootSecrets are what a tenant's PKI grows from: the CAs with their keys, the service-account
// key and the encryption configuration. Ensure issues everything else from them. Written into a
// new release before its install, they keep the tenant's identity: the kubeconfigs, node
// certificates and service-account tokens it issued stay valid, and the Secrets its etcd holds
// encrypted stay readable.
var RootSecrets = []string{SecretCA, SecretFrontProxyCA, SecretEtcdCA, SecretServiceAccount, SecretEncryption}

// Roots are a release's root Secrets, by short name (RootSecrets), as data: private keys. They
// leave the meta cluster only encrypted.
type Roots map[string]RootSecret

// RootSecret is one root Secret's type and data.
type RootSecret struct {
	Type corev1.SecretType `json:"type"`
	Data map[string][]byte `json:"data"`
}

// Marshal returns the roots as JSON, and their digest, which identifies the content: a backup
// of the same roots need not be stored twice.
func (r Roots) Marshal() (data []byte, digest string, err error) {
	data, err = json.Marshal(r) // maps marshal with sorted keys: the same roots, the same bytes
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(data)
	return data, hex.EncodeToString(sum[:]), nil
}

// ExportRoots reads the release's root Secrets. The encryption configuration is missing when
// encryption at rest is off; every other one must exist.
func ExportRoots(ctx context.Context, client kubernetes.Interface, cfg Config) (Roots, error) {
	roots := Roots{}
	for _, short := range RootSecrets {
		name := cfg.SecretName(short)
		s, err := client.CoreV1().Secrets(cfg.Namespace).Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err) && short == SecretEncryption:
			continue
		case err != nil:
			return nil, fmt.Errorf("read the PKI's root Secret %s/%s: %w", cfg.Namespace, name, err)
		}
		roots[short] = RootSecret{Type: s.Type, Data: s.Data}
	}
	return roots, nil
}

// ImportRoots writes roots as the root Secrets of release cfg.Release, which must have none: a
// restore never replaces a PKI. On failure it removes what it wrote, so a second try starts
// from the same place.
func ImportRoots(ctx context.Context, client kubernetes.Interface, cfg Config, roots Roots) error {
	for short := range roots {
		if !slices.Contains(RootSecrets, short) {
			return fmt.Errorf("restore the PKI: %q is not a root Secret (%v)", short, RootSecrets)
		}
	}
	for _, short := range []string{SecretCA, SecretFrontProxyCA, SecretEtcdCA, SecretServiceAccount} {
		if _, ok := roots[short]; !ok {
			return fmt.Errorf("restore the PKI: the backup lacks the root Secret %s", short)
		}
	}
	secrets := client.CoreV1().Secrets(cfg.Namespace)
	var written []string
	undo := func(err error) error {
		for _, name := range written {
			err = errors.Join(err, secrets.Delete(ctx, name, metav1.DeleteOptions{}))
		}
		return err
	}
	for _, short := range RootSecrets {
		root, ok := roots[short]
		if !ok {
			continue
		}
		name := cfg.SecretName(short)
		_, err := secrets.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: cfg.Namespace, Labels: map[string]string{LabelRelease: cfg.Release, LabelManagedBy: ManagedBy}},
			Type:       root.Type, Data: root.Data,
		}, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return undo(fmt.Errorf("restore the PKI: Secret %s/%s exists; a restore never replaces a tenant's PKI (restore under another name, or delete the release's Secrets first)", cfg.Namespace, name))
		}
		if err != nil {
			return undo(fmt.Errorf("restore the PKI: create Secret %s/%s: %w", cfg.Namespace, name, err))
		}
		written = append(written, name)
	}
	return nil
}
