package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/kubernetes"

	"github.com/taowa/taowa/hooks/etcdsnapshot"
	"github.com/taowa/taowa/hooks/etcdsnapshot/objectstore"
	"github.com/taowa/taowa/hooks/pki"
)

// storeFlags say where verified snapshots go besides the snapshot volume.
type storeFlags struct {
	cfg            objectstore.Config
	tenant         string
	credentialsDir string
	encryptionKey  string
	retain         int
	// Read through the API instead of files, by a hook that has a client of the meta cluster.
	credentialsSecret, encryptionKeySecret string
}

func (s *storeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&s.cfg.Endpoint, "s3-endpoint", "", "host:port of an S3-compatible object store every verified snapshot also goes to; empty: none")
	fs.StringVar(&s.cfg.Bucket, "s3-bucket", "", "the object store's bucket")
	fs.StringVar(&s.cfg.Prefix, "s3-prefix", "", "key prefix inside the bucket")
	fs.StringVar(&s.cfg.Region, "s3-region", "us-east-1", "the object store's region")
	fs.BoolVar(&s.cfg.Insecure, "s3-insecure", false, "plain HTTP instead of HTTPS")
	fs.StringVar(&s.tenant, "s3-tenant", "", "NAMESPACE/RELEASE: snapshots go under <prefix>/<namespace>/<release>/")
	fs.StringVar(&s.credentialsDir, "s3-credentials-dir", "", "directory with files access-key, secret-key and, for a private CA, ca.crt")
	fs.StringVar(&s.encryptionKey, "s3-encryption-key-file", "", "file of 64 hex digits: snapshots are encrypted with this AES-256 key before upload")
	fs.IntVar(&s.retain, "s3-retain", 5, "snapshots of the series to keep in the store; 0 keeps all")
}

// registerSecrets adds the flags that name the Secrets of the credentials and the key instead
// of directories: for a hook that reads them through the API.
func (s *storeFlags) registerSecrets(fs *flag.FlagSet) {
	fs.StringVar(&s.credentialsSecret, "s3-credentials-secret", "", "Secret (in --namespace) with keys access-key, secret-key and, for a private CA, ca.crt")
	fs.StringVar(&s.encryptionKeySecret, "s3-encryption-key-secret", "", "Secret (in --namespace) whose key \"key\" holds 64 hex digits")
}

// store opens the object store with the credentials and key the chart mounts, or returns nil
// when none is configured.
func (s *storeFlags) store() (*objectstore.Store, error) {
	if s.cfg.Endpoint == "" {
		return nil, nil
	}
	if s.credentialsDir == "" {
		return nil, &objectstore.ConfigError{Err: errors.New("--s3-credentials-dir is required with --s3-endpoint")}
	}
	return objectstore.Open(s.cfg, func(from, key string) ([]byte, string, error) {
		path := filepath.Join(s.credentialsDir, key)
		if from == objectstore.FromEncryptionKey {
			path = s.encryptionKey
		}
		data, err := os.ReadFile(path)
		return data, path, err
	}, s.encryptionKey != "")
}

// storeFromAPI opens the object store with the credentials and key of the Secrets
// registerSecrets named, read through the API (nothing of them written to disk), or returns nil
// when none is configured.
func (s *storeFlags) storeFromAPI(ctx context.Context, meta kubernetes.Interface, namespace string) (*objectstore.Store, error) {
	if s.cfg.Endpoint == "" {
		return nil, nil
	}
	if s.credentialsSecret == "" {
		return nil, &objectstore.ConfigError{Err: errors.New("--s3-credentials-secret is required with --s3-endpoint")}
	}
	return objectstore.Open(s.cfg, objectstore.SecretsReader(ctx, meta, namespace, s.credentialsSecret, s.encryptionKeySecret), s.encryptionKeySecret != "")
}

// upload stores a verified snapshot of series, then prunes the series in the store, and the PKI
// roots that no snapshot left there was taken under.
func (s *storeFlags) upload(ctx context.Context, store *objectstore.Store, snap etcdsnapshot.Snapshot, series, keep string) error {
	obj, err := store.Upload(ctx, s.tenant, snap)
	if err != nil {
		return err
	}
	out, _ := json.Marshal(obj)
	fmt.Printf("snapshot stored and read back: %s\n", out)
	pruned, err := store.Prune(ctx, s.tenant, series, s.retain, keep)
	for _, p := range pruned {
		fmt.Printf("pruned %s from the object store (retain %d)\n", p, s.retain)
	}
	if err != nil {
		return err
	}
	prunedPKI, err := store.PrunePKI(ctx, s.tenant)
	for _, p := range prunedPKI {
		fmt.Printf("pruned %s from the object store: no snapshot there needs those PKI roots\n", p)
	}
	return err
}

// backupPKI stores the release's PKI roots in the object store, encrypted, unless it holds the
// same already. Without an encryption key it stores nothing and says so: private keys leave the
// meta cluster only encrypted.
func (s *storeFlags) backupPKI(ctx context.Context, store *objectstore.Store, meta kubernetes.Interface, cfg pki.Config) error {
	roots, err := pki.ExportRoots(ctx, meta, cfg)
	if err != nil {
		return err
	}
	data, digest, err := roots.Marshal()
	if err != nil {
		return err
	}
	stored, err := store.PutPKI(ctx, s.tenant, digest, data)
	switch {
	case errors.Is(err, objectstore.ErrNoKey):
		fmt.Printf("warning: the PKI is not backed up to the object store: %v; a restore from its snapshots gets a new PKI, and cannot read Secrets encrypted at rest\n", err)
		return nil
	case err != nil:
		return err
	case stored:
		fmt.Printf("PKI roots stored in the object store, encrypted (%s)\n", digest[:12])
	default:
		fmt.Printf("PKI roots already in the object store (%s)\n", digest[:12])
	}
	return nil
}
