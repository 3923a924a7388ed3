package objectstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/server/v3/storage/mvcc"
	"go.etcd.io/etcd/server/v3/storage/schema"

	"github.com/taowa/taowa/hooks/etcdsnapshot"
)

const (
	testBucket    = "snapshots"
	testAccessKey = "snapshot-writer"
	testSecretKey = "secret"
)

// fakeS3 is an in-memory S3 (gofakes3) behind a test HTTP server, with what gofakes3 lacks:
// it refuses requests signed with another access key, as S3 does (gofakes3 checks no
// credentials), and it can damage the bodies of PUTs, as a faulty store would.
type fakeS3 struct {
	server      *httptest.Server
	s3          http.Handler
	clock       *clock
	corruptPuts atomic.Bool
}

func newFakeS3(t *testing.T) *fakeS3 {
	t.Helper()
	clock := &clock{now: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
	backend := s3mem.New(s3mem.WithTimeSource(clock))
	require.NoError(t, backend.CreateBucket(testBucket))
	// The clock is the test's, not the requests': no skew check.
	f := &fakeS3{s3: gofakes3.New(backend, gofakes3.WithTimeSource(clock), gofakes3.WithTimeSkewLimit(0)).Server(), clock: clock}
	f.server = httptest.NewServer(f)
	t.Cleanup(f.server.Close)
	return f
}

func (f *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// "AWS4-HMAC-SHA256 Credential=<access key>/<date>/<region>/s3/aws4_request, ..."
	_, credential, _ := strings.Cut(r.Header.Get("Authorization"), "Credential=")
	if accessKey, _, _ := strings.Cut(credential, "/"); accessKey != testAccessKey {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidAccessKeyId</Code>`+
			`<Message>The AWS Access Key Id you provided does not exist in our records.</Message></Error>`)
		return
	}
	if f.corruptPuts.Load() && r.Method == http.MethodPut {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body[len(body)/2] ^= 0xff
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	f.s3.ServeHTTP(w, r)
}

// config is a store configuration for the fake, by URL (the scheme sets plain HTTP).
func (f *fakeS3) config() Config {
	return Config{Endpoint: f.server.URL, Bucket: testBucket, AccessKey: testAccessKey, SecretKey: testSecretKey}
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

// raw is a plain S3 client of the fake, to see and change objects behind the store's back.
func (f *fakeS3) raw(t *testing.T) *minio.Client {
	t.Helper()
	client, err := minio.New(strings.TrimPrefix(f.server.URL, "http://"),
		&minio.Options{Creds: credentials.NewStaticV4(testAccessKey, testSecretKey, "")})
	require.NoError(t, err)
	return client
}

func (f *fakeS3) objectBytes(t *testing.T, key string) []byte {
	t.Helper()
	obj, err := f.raw(t).GetObject(context.Background(), testBucket, key, minio.GetObjectOptions{})
	require.NoError(t, err)
	defer obj.Close()
	data, err := io.ReadAll(obj)
	require.NoError(t, err)
	return data
}

// clock is the fake store's time, moved on by the tests: upload times differ without sleeps.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// writeSnapshot writes what etcd's snapshot API streams, a bbolt database of etcd's schema with
// its SHA-256 appended, holding keys at revisions 1 to revision; it returns it verified.
func writeSnapshot(t *testing.T, dir, series string, at time.Time, revision int64) etcdsnapshot.Snapshot {
	t.Helper()
	dbPath := filepath.Join(t.TempDir(), "db")
	db, err := bolt.Open(dbPath, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucket(schema.Meta.Name())
		if err != nil {
			return err
		}
		if err := meta.Put(schema.MetaStorageVersionName, []byte("3.6.0")); err != nil {
			return err
		}
		keys, err := tx.CreateBucket(schema.Key.Name())
		if err != nil {
			return err
		}
		for rev := int64(1); rev <= revision; rev++ {
			kv := mvccpb.KeyValue{Key: fmt.Appendf(nil, "/registry/test/%03d", rev), Value: []byte("value"),
				CreateRevision: rev, ModRevision: rev, Version: 1}
			value, err := kv.Marshal()
			if err != nil {
				return err
			}
			if err := keys.Put(mvcc.RevToBytes(mvcc.Revision{Main: rev}, mvcc.NewRevBytes()), value); err != nil {
				return err
			}
		}
		return nil
	}))
	require.NoError(t, db.Close())
	data, err := os.ReadFile(dbPath)
	require.NoError(t, err)
	sum := sha256.Sum256(data)
	path := filepath.Join(dir, fmt.Sprintf("%s-%s-rev%d.db", series, at.UTC().Format("20060102T150405Z"), revision))
	require.NoError(t, os.WriteFile(path, append(data, sum[:]...), 0o600))
	snap, err := etcdsnapshot.Verify(path)
	require.NoError(t, err)
	return snap
}
