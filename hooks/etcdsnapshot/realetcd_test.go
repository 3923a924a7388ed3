//go:build realbinaries

package etcdsnapshot

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/taowa/taowa/internal/certs"
	"github.com/taowa/taowa/versions"
	"github.com/taowa/taowa/versions/versionstest"
)

// TestSnapshotAndRestoreWithRealEtcd runs the etcd the default Kubernetes version pairs with,
// over mTLS on loopback: snapshots are taken, verified and pruned; a run killed halfway leaves
// nothing that a later run trips over; a restore brings every key back with a bumped revision,
// once.
func TestSnapshotAndRestoreWithRealEtcd(t *testing.T) {
	release, err := versions.ForMinor(versions.Default().MajorMinor())
	require.NoError(t, err)
	bin := versionstest.Binary(t, versions.Etcd, release)
	tlsFiles := writeTLS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	endpoint := startEtcd(t, bin, tlsFiles, "member-0", filepath.Join(t.TempDir(), "data"))
	client := etcdClient(t, endpoint, tlsFiles)
	for i := range 100 {
		_, err := client.Put(ctx, fmt.Sprintf("/registry/test/%03d", i), "value")
		require.NoError(t, err)
	}

	dir := t.TempDir()
	// What a run killed halfway leaves: an unverified snapshot and its partial file.
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".incoming-pre-upgrade-20260101T000000Z.db.part"), []byte("half"), 0o600))
	cfg := Config{Endpoint: endpoint, CAFile: tlsFiles.ca, CertFile: tlsFiles.cert, KeyFile: tlsFiles.key, Dir: dir, Prefix: "pre-upgrade", Retain: 2}
	start := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	var snaps []Snapshot
	for i := range 3 {
		snap, pruned, err := Take(ctx, cfg, start.Add(time.Duration(i)*time.Minute))
		require.NoError(t, err)
		assert.Equal(t, i == 2, len(pruned) == 1, "the third snapshot prunes the first (retain 2): %v", pruned)
		snaps = append(snaps, snap)
	}
	last := snaps[2]
	assert.Equal(t, "pre-upgrade-20261125T100200Z-rev101.db", filepath.Base(last.Path))
	assert.GreaterOrEqual(t, last.TotalKeys, 100)
	names, err := List(dir, "")
	require.NoError(t, err)
	assert.Equal(t, []string{filepath.Base(snaps[1].Path), filepath.Base(last.Path)}, names)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var left []string
	for _, e := range entries {
		if e.Name() != lockFile {
			left = append(left, e.Name())
		}
	}
	assert.Equal(t, names, left, "the killed run's leftovers are gone")

	// A scheduled series has its own retention.
	scheduled := cfg
	scheduled.Prefix, scheduled.Retain = "scheduled", 1
	_, _, err = Take(ctx, scheduled, start.Add(time.Hour))
	require.NoError(t, err)
	names, err = List(dir, "pre-upgrade")
	require.NoError(t, err)
	assert.Len(t, names, 2)

	// Corruption and truncation are caught.
	data, err := os.ReadFile(last.Path)
	require.NoError(t, err)
	corrupt := filepath.Join(t.TempDir(), "corrupt.db")
	flipped := append([]byte(nil), data...)
	flipped[len(flipped)/2] ^= 0xff
	require.NoError(t, os.WriteFile(corrupt, flipped, 0o600))
	_, err = Verify(corrupt)
	assert.ErrorContains(t, err, "SHA-256 mismatch")
	require.NoError(t, os.WriteFile(corrupt, data[:len(data)-100], 0o600))
	_, err = Verify(corrupt)
	assert.ErrorContains(t, err, "truncated")

	// Described with verification, a damaged file in the directory is reported, not fatal.
	damaged := filepath.Join(dir, "scheduled-20261125T120000Z-rev1.db")
	require.NoError(t, os.WriteFile(damaged, flipped, 0o600))
	described, err := Describe(dir, true)
	require.NoError(t, err)
	require.Len(t, described, 4)
	for _, f := range described {
		if f.Name == filepath.Base(damaged) {
			assert.Contains(t, f.Verified, "SHA-256 mismatch", f.Name)
			continue
		}
		assert.Equal(t, "ok", f.Verified, f.Name)
		assert.Positive(t, f.Revision, f.Name)
	}
	assert.Equal(t, filepath.Base(damaged), described[3].Name, "the newest file last")
	require.NoError(t, os.Remove(damaged))

	// Restore into a fresh member; the second run with the same snapshot changes nothing.
	restoredData := filepath.Join(t.TempDir(), "data")
	require.NoError(t, os.MkdirAll(restoredData, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(restoredData, "old"), []byte("kept"), 0o600))
	peer := "http://" + freeAddr(t)
	rc := RestoreConfig{Snapshot: last.Path, DataDir: restoredData, Name: "restored", PeerURL: peer,
		InitialCluster: "restored=" + peer, ClusterToken: "restored"}
	restored, err := Restore(rc, start)
	require.NoError(t, err)
	assert.True(t, restored)
	restored, err = Restore(rc, start.Add(time.Minute))
	require.NoError(t, err)
	assert.False(t, restored, "the marker makes a restart skip the restore")
	require.NoError(t, os.Remove(last.Path))
	restored, err = Restore(rc, start.Add(2*time.Minute))
	require.NoError(t, err, "a restored member needs the snapshot no more")
	assert.False(t, restored)
	assert.FileExists(t, filepath.Join(restoredData+".before-restore-20261125T100000Z", "old"), "the replaced data is kept")

	endpoint2 := startEtcdAt(t, bin, tlsFiles, "restored", restoredData, peer)
	client2 := etcdClient(t, endpoint2, tlsFiles)
	resp, err := client2.Get(ctx, "/registry/test/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	require.NoError(t, err)
	assert.Equal(t, int64(100), resp.Count)
	assert.Greater(t, resp.Header.Revision, int64(revisionBump), "the revision is bumped past the snapshot's")
}

type tlsFiles struct{ ca, cert, key string }

func writeTLS(t *testing.T) tlsFiles {
	t.Helper()
	dir := t.TempDir()
	ca, err := certs.NewCA("etcd-ca", time.Hour)
	require.NoError(t, err)
	leaf, err := ca.Issue(certs.Spec{CommonName: "etcd", IPs: []net.IP{net.IPv4(127, 0, 0, 1)},
		Usages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, Validity: time.Hour})
	require.NoError(t, err)
	key, err := leaf.KeyPEM()
	require.NoError(t, err)
	files := tlsFiles{ca: filepath.Join(dir, "ca.crt"), cert: filepath.Join(dir, "tls.crt"), key: filepath.Join(dir, "tls.key")}
	require.NoError(t, os.WriteFile(files.ca, ca.CertPEM(), 0o600))
	require.NoError(t, os.WriteFile(files.cert, leaf.CertPEM(), 0o600))
	require.NoError(t, os.WriteFile(files.key, key, 0o600))
	return files
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

func startEtcd(t *testing.T, bin string, tls tlsFiles, name, dataDir string) string {
	return startEtcdAt(t, bin, tls, name, dataDir, "http://"+freeAddr(t))
}

// startEtcdAt runs one etcd member until the test ends and returns its client URL.
func startEtcdAt(t *testing.T, bin string, tls tlsFiles, name, dataDir, peer string) string {
	t.Helper()
	client := "https://" + freeAddr(t)
	cmd := exec.Command(bin, "--name="+name, "--data-dir="+dataDir,
		"--listen-client-urls="+client, "--advertise-client-urls="+client,
		"--listen-peer-urls="+peer, "--initial-advertise-peer-urls="+peer, "--initial-cluster="+name+"="+peer,
		"--cert-file="+tls.cert, "--key-file="+tls.key, "--trusted-ca-file="+tls.ca, "--client-cert-auth=true",
		"--log-level=error")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return client
}

func etcdClient(t *testing.T, endpoint string, tls tlsFiles) *clientv3.Client {
	t.Helper()
	tlsConfig, err := transport.TLSInfo{TrustedCAFile: tls.ca, CertFile: tls.cert, KeyFile: tls.key}.ClientConfig()
	require.NoError(t, err)
	client, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, TLS: tlsConfig, DialTimeout: 10 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { client.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		if _, err := client.Status(ctx, endpoint); err == nil {
			return client
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("etcd at %s did not answer", endpoint)
	return nil
}
