package objectstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/taowa/taowa/hooks/etcdsnapshot"
	"github.com/taowa/taowa/hooks/etcdsnapshot/objectstore/objectstoretest"
)

const tenant = "tenants/blue"

var (
	start  = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	keyA   = bytes.Repeat([]byte{0xa}, EncryptionKeySize)
	keyB   = bytes.Repeat([]byte{0xb}, EncryptionKeySize)
	noEdit func(*Config)
)

func withKey(key []byte) func(*Config) { return func(c *Config) { c.EncryptionKey = key } }

func TestNewValidatesConfig(t *testing.T) {
	_, err := New(Config{Endpoint: "s3:9000"})
	assert.EqualError(t, err, "object store configuration lacks: access key, bucket, secret key")
	valid := Config{Endpoint: "s3:9000", Bucket: "snapshots", AccessKey: "a", SecretKey: "s"}
	for name, tc := range map[string]struct {
		edit func(*Config)
		want string
	}{
		"short key":          {withKey(make([]byte, 16)), "encryption key: 16 bytes, must be 32"},
		"empty key":          {withKey([]byte{}), "encryption key: 0 bytes, must be 32"},
		"leading slash":      {func(c *Config) { c.Prefix = "/etcd" }, `key prefix "/etcd"`},
		"empty segment":      {func(c *Config) { c.Prefix = "etcd//tenants" }, `key prefix "etcd//tenants"`},
		"relative segment":   {func(c *Config) { c.Prefix = "etcd/../other" }, `key prefix "etcd/../other"`},
		"bucket name":        {func(c *Config) { c.Bucket = "s3/snapshots" }, `bucket "s3/snapshots"`},
		"scheme":             {func(c *Config) { c.Endpoint = "ftp://s3:21" }, "scheme must be http or https"},
		"path":               {func(c *Config) { c.Endpoint = "https://s3:9000/bucket" }, "without a path"},
		"https but insecure": {func(c *Config) { c.Endpoint, c.Insecure = "https://s3:9000", true }, "is HTTPS, but plain HTTP"},
		"CA for plain HTTP":  {func(c *Config) { c.Endpoint, c.CA = "http://s3:9000", []byte("pem") }, "plain HTTP"},
		"CA without PEM":     {func(c *Config) { c.CA = []byte("not PEM") }, "no PEM certificate"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := valid
			tc.edit(&cfg)
			_, err := New(cfg)
			assert.ErrorContains(t, err, tc.want)
		})
	}
	for _, prefix := range []string{"", "etcd", "etcd/", "backups/etcd"} {
		cfg := valid
		cfg.Prefix = prefix
		_, err := New(cfg)
		assert.NoError(t, err, "prefix %q", prefix)
	}
}

func TestTenantIsOneNamespaceAndRelease(t *testing.T) {
	for prefix, want := range map[string]string{"": "tenants/blue/", "backups/etcd/": "backups/etcd/tenants/blue/"} {
		s, err := New(Config{Endpoint: "s3:9000", Bucket: "snapshots", AccessKey: "a", SecretKey: "s", Prefix: prefix})
		require.NoError(t, err)
		got, err := s.tenantPrefix(tenant)
		require.NoError(t, err)
		assert.Equal(t, want, got, "no double slashes, whatever the prefix")
		for _, bad := range []string{"", "tenants", "tenants/", "/blue", "tenants/blue/x", "tenants/../blue", "Tenants/blue", "tenants/blue_1", "tenants/.."} {
			_, err := s.tenantPrefix(bad)
			assert.ErrorContains(t, err, "tenant", "tenant %q", bad)
		}
	}
}

func TestUploadListDownload(t *testing.T) {
	for name, key := range map[string][]byte{"plain": nil, "encrypted": keyA} {
		t.Run(name, func(t *testing.T) {
			fake := newFakeS3(t)
			s := fake.store(t, withKey(key))
			ctx := context.Background()
			local := t.TempDir()
			first := objectstoretest.WriteSnapshot(t, local, "pre-upgrade", start, 10)
			second := objectstoretest.WriteSnapshot(t, local, "pre-upgrade", start.Add(time.Hour), 20)

			uploaded, err := s.Upload(ctx, tenant, first)
			require.NoError(t, err)
			fake.Clock.Advance(time.Minute)
			_, err = s.Upload(ctx, tenant, second)
			require.NoError(t, err)

			plain, err := os.ReadFile(first.Path)
			require.NoError(t, err)
			stored := fake.Object(t, "tenants/blue/pre-upgrade-20261125T100000Z-rev10.db")
			sum := sha256.Sum256(stored)
			assert.Equal(t, Object{
				Key: "tenants/blue/pre-upgrade-20261125T100000Z-rev10.db", Name: "pre-upgrade-20261125T100000Z-rev10.db",
				Size: int64(len(stored)), SHA256: hex.EncodeToString(sum[:]), SnapshotSize: first.Size,
				Revision: 10, TotalKeys: 10, Version: "3.6.0", Encrypted: key != nil, Uploaded: start,
			}, uploaded)
			if key == nil {
				assert.Equal(t, plain, stored)
			} else {
				assert.NotEqual(t, plain, stored, "the store gets ciphertext")
				assert.Greater(t, len(stored), len(plain), "with DARE's overhead")
				assert.NotContains(t, string(stored), "/registry/test/", "no key of the snapshot is readable")
			}

			listed, err := s.List(ctx, tenant, "pre-upgrade")
			require.NoError(t, err)
			require.Len(t, listed, 2)
			assert.Equal(t, uploaded, listed[0], "List reads back what Upload recorded")
			assert.Equal(t, "pre-upgrade-20261125T110000Z-rev20.db", listed[1].Name)

			dir := t.TempDir()
			snap, err := s.Download(ctx, tenant, "pre-upgrade-20261125T100000Z-rev10.db", dir)
			require.NoError(t, err)
			want := first
			want.Path = filepath.Join(dir, "pre-upgrade-20261125T100000Z-rev10.db")
			assert.Equal(t, want, snap)
			downloaded, err := os.ReadFile(snap.Path)
			require.NoError(t, err)
			assert.Equal(t, plain, downloaded)
			assertOnlyFiles(t, dir, "pre-upgrade-20261125T100000Z-rev10.db")
		})
	}
}

func TestListOrdersSeriesByNameAndAllByUploadTime(t *testing.T) {
	fake := newFakeS3(t)
	s := fake.store(t, noEdit)
	ctx := context.Background()
	local := t.TempDir()
	// A scheduled snapshot goes first, then a pre-upgrade one: by name they sort the other way.
	for _, snap := range []etcdsnapshot.Snapshot{
		objectstoretest.WriteSnapshot(t, local, "scheduled", start, 5),
		objectstoretest.WriteSnapshot(t, local, "pre-upgrade", start.Add(time.Hour), 6),
	} {
		_, err := s.Upload(ctx, tenant, snap)
		require.NoError(t, err)
		fake.Clock.Advance(time.Minute)
	}
	// Not snapshots: a hidden name, another suffix, a deeper key; another tenant's snapshot.
	raw := fake.Client(t)
	for _, key := range []string{"tenants/blue/.incoming-x.db", "tenants/blue/notes.txt", "tenants/blue/old/scheduled-x.db", "tenants/green/scheduled-y.db"} {
		_, err := raw.PutObject(ctx, testBucket, key, bytes.NewReader([]byte("x")), 1, minio.PutObjectOptions{})
		require.NoError(t, err)
	}
	all, err := s.List(ctx, tenant, "")
	require.NoError(t, err)
	assert.Equal(t, []string{"scheduled-20261125T100000Z-rev5.db", "pre-upgrade-20261125T110000Z-rev6.db"}, names(all))
	scheduled, err := s.List(ctx, tenant, "scheduled")
	require.NoError(t, err)
	assert.Equal(t, []string{"scheduled-20261125T100000Z-rev5.db"}, names(scheduled))
	_, err = s.List(ctx, tenant, "../x")
	assert.ErrorContains(t, err, "must not contain")
}

func TestDownloadRefusesAChangedObject(t *testing.T) {
	for name, key := range map[string][]byte{"plain": nil, "encrypted": keyA} {
		t.Run(name, func(t *testing.T) {
			fake := newFakeS3(t)
			s := fake.store(t, withKey(key))
			ctx := context.Background()
			snap := objectstoretest.WriteSnapshot(t, t.TempDir(), "scheduled", start, 10)
			object, err := s.Upload(ctx, tenant, snap)
			require.NoError(t, err)

			data := fake.Object(t, object.Key)
			fake.Corrupt(t, object.Key)

			dir := t.TempDir()
			_, err = s.Download(ctx, tenant, object.Name, dir)
			assert.ErrorContains(t, err, "object s3://snapshots/tenants/blue/scheduled-20261125T100000Z-rev10.db: SHA-256 mismatch: the object is corrupt (recorded "+object.SHA256)
			var unusable *UnusableError
			assert.ErrorAs(t, err, &unusable, "a changed object is refused for good")
			assertOnlyFiles(t, dir)

			// Cut short instead, the metadata kept.
			raw := fake.Client(t)
			info, err := raw.StatObject(ctx, testBucket, object.Key, minio.StatObjectOptions{})
			require.NoError(t, err)
			_, err = raw.PutObject(ctx, testBucket, object.Key, bytes.NewReader(data[:100]), 100,
				minio.PutObjectOptions{UserMetadata: info.UserMetadata})
			require.NoError(t, err)
			_, err = s.Download(ctx, tenant, object.Name, dir)
			assert.ErrorContains(t, err, "size mismatch: the object is corrupt")
			assert.ErrorAs(t, err, &unusable)
			assertOnlyFiles(t, dir)
		})
	}
}

func TestDownloadNeedsTheEncryptionKey(t *testing.T) {
	fake := newFakeS3(t)
	ctx := context.Background()
	object, err := fake.store(t, withKey(keyA)).Upload(ctx, tenant, objectstoretest.WriteSnapshot(t, t.TempDir(), "scheduled", start, 10))
	require.NoError(t, err)
	dir := t.TempDir()

	_, err = fake.store(t, withKey(keyB)).Download(ctx, tenant, object.Name, dir)
	assert.ErrorContains(t, err, "object s3://snapshots/tenants/blue/scheduled-20261125T100000Z-rev10.db: its bytes are as uploaded, but they do not decrypt with the store's encryption key")
	assertOnlyFiles(t, dir)

	_, err = fake.store(t, noEdit).Download(ctx, tenant, object.Name, dir)
	assert.EqualError(t, err, "object s3://snapshots/tenants/blue/scheduled-20261125T100000Z-rev10.db is encrypted: the store needs its encryption key")
	var unusable *UnusableError
	assert.ErrorAs(t, err, &unusable)
	assertOnlyFiles(t, dir)

	// The store gone: an error, but not a refusal of the object, which the next try may get.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := l.Addr().String()
	require.NoError(t, l.Close())
	_, err = fake.store(t, func(c *Config) { c.Endpoint = "http://" + closed; c.EncryptionKey = keyA }).Download(ctx, tenant, object.Name, dir)
	assert.ErrorContains(t, err, "object store http://"+closed+" unreachable")
	assert.False(t, errors.As(err, &unusable), "an unreachable store refuses no object: %v", err)
	assertOnlyFiles(t, dir)
}

func TestUploadRemovesWhatTheStoreDidNotKeep(t *testing.T) {
	fake := newFakeS3(t)
	s := fake.store(t, noEdit)
	ctx := context.Background()
	fake.CorruptPuts.Store(true)
	_, err := s.Upload(ctx, tenant, objectstoretest.WriteSnapshot(t, t.TempDir(), "scheduled", start, 10))
	assert.ErrorContains(t, err, "object s3://snapshots/tenants/blue/scheduled-20261125T100000Z-rev10.db: read back")
	assert.ErrorContains(t, err, "removed s3://snapshots/tenants/blue/scheduled-20261125T100000Z-rev10.db")
	listed, err := s.List(ctx, tenant, "")
	require.NoError(t, err)
	assert.Empty(t, listed)
}

func TestDownloadOfAMissingNameSaysWhatThereIs(t *testing.T) {
	fake := newFakeS3(t)
	s := fake.store(t, func(c *Config) { c.Prefix = "etcd" })
	ctx := context.Background()
	_, err := s.Download(ctx, tenant, "scheduled-20261125T100000Z-rev10.db", t.TempDir())
	assert.EqualError(t, err, "snapshot scheduled-20261125T100000Z-rev10.db of tenants/blue not found in s3://snapshots/etcd/tenants/blue/; the store holds: none")
	var unusable *UnusableError
	assert.ErrorAs(t, err, &unusable)

	local := t.TempDir()
	for i := range 2 {
		_, err := s.Upload(ctx, tenant, objectstoretest.WriteSnapshot(t, local, "scheduled", start.Add(time.Duration(i)*time.Hour), 5))
		require.NoError(t, err)
		fake.Clock.Advance(time.Minute)
	}
	dir := t.TempDir()
	_, err = s.Download(ctx, tenant, "scheduled-20261125T100000Z-rev10.db", dir)
	assert.EqualError(t, err, "snapshot scheduled-20261125T100000Z-rev10.db of tenants/blue not found in s3://snapshots/etcd/tenants/blue/; "+
		"the store holds: scheduled-20261125T100000Z-rev5.db, scheduled-20261125T110000Z-rev5.db")
	assertOnlyFiles(t, dir)
	_, err = s.Download(ctx, tenant, "../green/scheduled-20261125T100000Z-rev5.db", dir)
	assert.ErrorContains(t, err, "not a snapshot file name")
}

func TestObjectsNotUploadedAsSnapshotsAreListedNotDownloaded(t *testing.T) {
	fake := newFakeS3(t)
	s := fake.store(t, noEdit)
	ctx := context.Background()
	// A snapshot copied in with another tool: the bytes are fine, but nothing vouches for them.
	snap := objectstoretest.WriteSnapshot(t, t.TempDir(), "manual", start, 3)
	_, err := fake.Client(t).FPutObject(ctx, testBucket, "tenants/blue/manual-20261125T100000Z-rev3.db", snap.Path, minio.PutObjectOptions{})
	require.NoError(t, err)
	listed, err := s.List(ctx, tenant, "")
	require.NoError(t, err)
	require.Len(t, listed, 1)
	assert.Equal(t, "manual-20261125T100000Z-rev3.db", listed[0].Name)
	assert.Empty(t, listed[0].SHA256)
	dir := t.TempDir()
	_, err = s.Download(ctx, tenant, "manual-20261125T100000Z-rev3.db", dir)
	assert.EqualError(t, err, "object s3://snapshots/tenants/blue/manual-20261125T100000Z-rev3.db has no recorded SHA-256: it was not uploaded as a snapshot, and cannot be verified")
	assertOnlyFiles(t, dir)
}

func TestPruneKeepsTheNewestOfTheSeriesAndTheKeptOne(t *testing.T) {
	fake := newFakeS3(t)
	s := fake.store(t, noEdit)
	ctx := context.Background()
	local := t.TempDir()
	upload := func(series string, at time.Time, revision int64) string {
		snap := objectstoretest.WriteSnapshot(t, local, series, at, revision)
		object, err := s.Upload(ctx, tenant, snap)
		require.NoError(t, err)
		fake.Clock.Advance(time.Minute)
		return object.Name
	}
	pre1 := upload("pre-upgrade", start, 10)
	pre2 := upload("pre-upgrade", start.Add(time.Hour), 20)
	pre3 := upload("pre-upgrade", start.Add(2*time.Hour), 30)
	pre4 := upload("pre-upgrade", start.Add(3*time.Hour), 40)
	scheduled := upload("scheduled", start, 5)

	removed, err := s.Prune(ctx, tenant, "pre-upgrade", 0, "")
	require.NoError(t, err)
	assert.Empty(t, removed, "retain 0 keeps all")
	removed, err = s.Prune(ctx, tenant, "pre-upgrade", 2, pre1)
	require.NoError(t, err)
	assert.Equal(t, []string{pre2}, removed, "the kept snapshot (a restore's) is neither removed nor counted")
	removed, err = s.Prune(ctx, tenant, "pre-upgrade", 2, pre1)
	require.NoError(t, err)
	assert.Empty(t, removed)
	removed, err = s.Prune(ctx, tenant, "pre-upgrade", 1, "")
	require.NoError(t, err)
	assert.Equal(t, []string{pre1, pre3}, removed, "the oldest of the series go")
	all, err := s.List(ctx, tenant, "")
	require.NoError(t, err)
	assert.Equal(t, []string{pre4, scheduled}, names(all), "the other series is untouched")

	_, err = s.Prune(ctx, tenant, "", 1, "")
	assert.ErrorContains(t, err, "prune needs a series")
	_, err = s.Prune(ctx, tenant, "scheduled", -1, "")
	assert.ErrorContains(t, err, "retain -1")
	_, err = s.Prune(ctx, "tenants", "scheduled", 1, "")
	assert.ErrorContains(t, err, "want namespace/release")
}

func TestCheck(t *testing.T) {
	ctx := context.Background()
	fake := newFakeS3(t)
	endpoint := fake.Endpoint()

	assert.NoError(t, fake.store(t, func(c *Config) { c.Endpoint, c.Insecure, c.Region = endpoint, true, "us-east-1" }).Check(ctx), "host:port with Insecure")
	assert.NoError(t, fake.store(t, func(c *Config) { c.Prefix = "etcd" }).Check(ctx), "a prefix with nothing under it")

	err := fake.store(t, func(c *Config) { c.Bucket = "elsewhere" }).Check(ctx)
	assert.ErrorContains(t, err, "bucket elsewhere does not exist at "+fake.URL)
	var refused *ConfigError
	assert.ErrorAs(t, err, &refused, "a missing bucket is not worth a retry")

	// gofakes3 checks no credentials: fakeS3 answers a foreign access key as S3 does, so this
	// checks how the answer is read, not that a secret is checked.
	err = fake.store(t, func(c *Config) { c.AccessKey = "someone-else" }).Check(ctx)
	assert.ErrorContains(t, err, "access denied to bucket snapshots at "+fake.URL+": check the access key and secret")
	assert.ErrorAs(t, err, &refused, "refused credentials are not worth a retry")

	// Nothing listens there. (With a region set, the error comes after minio-go's retries.)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := l.Addr().String()
	require.NoError(t, l.Close())
	err = fake.store(t, func(c *Config) { c.Endpoint = "http://" + closed }).Check(ctx)
	assert.ErrorContains(t, err, "object store http://"+closed+" unreachable")
	assert.ErrorContains(t, err, "connection refused")
	assert.False(t, errors.As(err, &refused), "a store that does not answer may answer the next try")

	// Over TLS, with a certificate of a CA the system does not know.
	tlsServer := httptest.NewUnstartedServer(fake)
	tlsServer.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	tlsServer.StartTLS()
	t.Cleanup(tlsServer.Close)
	overTLS := func(c *Config) { c.Endpoint = tlsServer.URL }
	err = fake.store(t, overTLS).Check(ctx)
	assert.ErrorContains(t, err, "object store "+tlsServer.URL+" unreachable")
	assert.ErrorContains(t, err, "certificate")
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsServer.Certificate().Raw})
	assert.NoError(t, fake.store(t, func(c *Config) { overTLS(c); c.CA = caPEM }).Check(ctx), "trusted by the CA")
}

func names(objects []Object) []string {
	var names []string
	for _, o := range objects {
		names = append(names, o.Name)
	}
	return names
}

// assertOnlyFiles checks that dir holds just the files named: nothing partial, nothing hidden.
func assertOnlyFiles(t *testing.T, dir string, want ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	assert.Equal(t, want, got)
}
