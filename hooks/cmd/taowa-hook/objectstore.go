package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/taowa/taowa/hooks/etcdsnapshot"
	"github.com/taowa/taowa/hooks/etcdsnapshot/objectstore"
)

// Keys of the Secret the chart mounts at --s3-credentials-dir (etcd.snapshots.objectStore).
const (
	credentialAccessKey = "access-key"
	credentialSecretKey = "secret-key"
	credentialCA        = "ca.crt"
)

// storeFlags say where verified snapshots go besides the snapshot volume.
type storeFlags struct {
	cfg            objectstore.Config
	tenant         string
	credentialsDir string
	encryptionKey  string
	retain         int
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

// store opens the object store, or returns nil when none is configured. What is wrong here is
// wrong in the release's values or Secrets: a ConfigError.
func (s *storeFlags) store() (*objectstore.Store, error) {
	store, err := s.open()
	if err != nil {
		return nil, &objectstore.ConfigError{Err: err}
	}
	return store, nil
}

func (s *storeFlags) open() (*objectstore.Store, error) {
	if s.cfg.Endpoint == "" {
		return nil, nil
	}
	if s.credentialsDir == "" {
		return nil, errors.New("--s3-credentials-dir is required with --s3-endpoint")
	}
	cfg := s.cfg
	read := func(name string) (string, error) {
		b, err := os.ReadFile(filepath.Join(s.credentialsDir, name))
		if err != nil {
			return "", fmt.Errorf("object store credentials: %w (the Secret etcd.snapshots.objectStore.credentialsSecret names must exist and hold keys %s and %s)",
				err, credentialAccessKey, credentialSecretKey)
		}
		return strings.TrimSpace(string(b)), nil
	}
	var err error
	if cfg.AccessKey, err = read(credentialAccessKey); err != nil {
		return nil, err
	}
	if cfg.SecretKey, err = read(credentialSecretKey); err != nil {
		return nil, err
	}
	if ca := filepath.Join(s.credentialsDir, credentialCA); fileExists(ca) {
		cfg.CAFile = ca
	}
	if s.encryptionKey != "" {
		if cfg.EncryptionKey, err = readEncryptionKey(s.encryptionKey); err != nil {
			return nil, err
		}
	}
	return objectstore.New(cfg)
}

// readEncryptionKey reads an AES-256 key written as 64 hex digits (`openssl rand -hex 32`).
func readEncryptionKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("snapshot encryption key: %w", err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != objectstore.EncryptionKeySize {
		return nil, fmt.Errorf("snapshot encryption key %s: want %d hex digits (openssl rand -hex %d), the file holds %d bytes that are not",
			path, 2*objectstore.EncryptionKeySize, objectstore.EncryptionKeySize, len(b))
	}
	return key, nil
}

// upload stores a verified snapshot of series, then prunes the series in the store.
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
	return err
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
