// Package objectstoretest holds the fakes of the tests that use an object store: an in-memory
// S3 that checks the access key, on a clock the test moves, and etcd snapshot files written
// without an etcd. Product code never imports it.
package objectstoretest

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

// The fake's bucket and credentials.
const (
	Bucket    = "snapshots"
	AccessKey = "snapshot-writer"
	SecretKey = "snapshot-secret"
)

// S3 is an in-memory S3 (gofakes3) behind a test HTTP server, with what gofakes3 lacks: it
// refuses requests signed with another access key, as S3 does (gofakes3 checks no credentials),
// and it can damage the bodies of PUTs, as a faulty store would.
type S3 struct {
	URL         string // http://host:port
	Clock       *Clock
	CorruptPuts atomic.Bool
	s3          http.Handler
}

// NewS3 starts a fake S3 with Bucket, until the test ends; its clock starts at
// 2026-11-25T10:00:00Z.
func NewS3(t testing.TB) *S3 {
	t.Helper()
	clock := &Clock{now: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
	backend := s3mem.New(s3mem.WithTimeSource(clock))
	require.NoError(t, backend.CreateBucket(Bucket))
	// The clock is the test's, not the requests': no skew check.
	f := &S3{s3: gofakes3.New(backend, gofakes3.WithTimeSource(clock), gofakes3.WithTimeSkewLimit(0)).Server(), Clock: clock}
	server := httptest.NewServer(f)
	t.Cleanup(server.Close)
	f.URL = server.URL
	return f
}

// Endpoint is host:port, as etcd.snapshots.objectStore.endpoint takes it.
func (f *S3) Endpoint() string { return strings.TrimPrefix(f.URL, "http://") }

func (f *S3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// "AWS4-HMAC-SHA256 Credential=<access key>/<date>/<region>/s3/aws4_request, ..."
	_, credential, _ := strings.Cut(r.Header.Get("Authorization"), "Credential=")
	if accessKey, _, _ := strings.Cut(credential, "/"); accessKey != AccessKey {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidAccessKeyId</Code>`+
			`<Message>The AWS Access Key Id you provided does not exist in our records.</Message></Error>`)
		return
	}
	if f.CorruptPuts.Load() && r.Method == http.MethodPut {
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

// Client is a plain S3 client of the fake, to see and change objects behind a store's back.
func (f *S3) Client(t testing.TB) *minio.Client {
	t.Helper()
	client, err := minio.New(f.Endpoint(), &minio.Options{Creds: credentials.NewStaticV4(AccessKey, SecretKey, "")})
	require.NoError(t, err)
	return client
}

// Object reads the bytes stored under key.
func (f *S3) Object(t testing.TB, key string) []byte {
	t.Helper()
	obj, err := f.Client(t).GetObject(context.Background(), Bucket, key, minio.GetObjectOptions{})
	require.NoError(t, err)
	defer obj.Close()
	data, err := io.ReadAll(obj)
	require.NoError(t, err)
	return data
}

// Corrupt changes one byte of the object under key, as a faulty store would, keeping its size,
// user metadata (a recorded SHA-256 among it) and upload time.
func (f *S3) Corrupt(t testing.TB, key string) {
	t.Helper()
	ctx := context.Background()
	client := f.Client(t)
	info, err := client.StatObject(ctx, Bucket, key, minio.StatObjectOptions{})
	require.NoError(t, err)
	data := f.Object(t, key)
	data[len(data)/2] ^= 0xff

	now := f.Clock.Now()
	f.Clock.Set(info.LastModified)
	_, err = client.PutObject(ctx, Bucket, key, bytes.NewReader(data), int64(len(data)),
		minio.PutObjectOptions{UserMetadata: info.UserMetadata, ContentType: info.ContentType})
	f.Clock.Set(now)
	require.NoError(t, err)

	after, err := client.StatObject(ctx, Bucket, key, minio.StatObjectOptions{})
	require.NoError(t, err)
	require.Equal(t, info.Size, after.Size)
	require.Equal(t, info.UserMetadata, after.UserMetadata, "the recorded metadata is kept")
	require.True(t, after.LastModified.Equal(info.LastModified), "upload time %s, was %s", after.LastModified, info.LastModified)
}

// Clock is the fake store's time, moved on by the tests: upload times differ without sleeps.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *Clock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

func (c *Clock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// WriteSnapshot writes into dir what etcd's snapshot API streams, a bbolt database of etcd's
// schema with its SHA-256 appended, holding keys at revisions 1 to revision, named as the
// snapshot hook names series' snapshot taken at at; it returns it verified.
func WriteSnapshot(t testing.TB, dir, series string, at time.Time, revision int64) etcdsnapshot.Snapshot {
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
	require.Equal(t, revision, snap.Revision)
	return snap
}
