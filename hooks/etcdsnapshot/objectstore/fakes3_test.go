package objectstore

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taowa/taowa/hooks/etcdsnapshot/objectstore/objectstoretest"
)

const (
	testBucket    = objectstoretest.Bucket
	testAccessKey = objectstoretest.AccessKey
	testSecretKey = objectstoretest.SecretKey
)

// fakeS3 is objectstoretest's S3, with Stores of this package over it.
type fakeS3 struct{ *objectstoretest.S3 }

func newFakeS3(t *testing.T) *fakeS3 { return &fakeS3{objectstoretest.NewS3(t)} }

// config is a store configuration for the fake, by URL (the scheme sets plain HTTP).
func (f *fakeS3) config() Config {
	return Config{Endpoint: f.URL, Bucket: testBucket, AccessKey: testAccessKey, SecretKey: testSecretKey}
}

func (f *fakeS3) store(t *testing.T, edit func(*Config)) *Store {
	t.Helper()
	cfg := f.config()
	if edit != nil {
		edit(&cfg)
	}
	s, err := New(cfg)
	require.NoError(t, err)
	return s
}
