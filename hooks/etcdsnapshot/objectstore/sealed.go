package objectstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/sio"
)

// ErrNoKey: the store has no encryption key, and what was asked must not leave unencrypted.
var ErrNoKey = errors.New("no encryption key: private keys leave the cluster only encrypted (etcd.snapshots.objectStore.encryptionKeySecret)")

// ErrNoPKI: the store holds no PKI of the tenant from the time asked.
var ErrNoPKI = errors.New("no PKI stored")

// pkiDir holds a tenant's PKI roots, one object per content: <tenant>/pki/<digest>.
const pkiDir = "pki/"

// PutPKI stores a tenant's PKI roots (private keys: only with an encryption key) under their
// digest, unless the store holds them already, and reads them back. It says whether it stored
// them.
func (s *Store) PutPKI(ctx context.Context, tenant, digest string, roots []byte) (bool, error) {
	if s.key == nil {
		return false, ErrNoKey
	}
	dir, err := s.tenantPrefix(tenant)
	if err != nil {
		return false, err
	}
	key := dir + pkiDir + digest
	if _, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{}); err == nil {
		return false, nil
	} else if s3Code(err) != minio.NoSuchKey {
		return false, fmt.Errorf("look for %s: %w", s.url(key), s.requestError(err))
	}
	var sealed bytes.Buffer
	if _, err := sio.Encrypt(&sealed, bytes.NewReader(roots), s.dare(nil)); err != nil {
		return false, fmt.Errorf("encrypt the PKI: %w", err)
	}
	want := newDigest()
	want.Write(sealed.Bytes())
	_, err = s.client.PutObject(ctx, s.bucket, key, bytes.NewReader(sealed.Bytes()), int64(sealed.Len()),
		minio.PutObjectOptions{UserMetadata: map[string]string{metaSHA256: want.sum(), metaEncrypted: "true"}, ContentType: "application/octet-stream"})
	if err != nil {
		return false, fmt.Errorf("upload the PKI to %s: %w", s.url(key), s.requestError(err))
	}
	read, _, err := s.readBack(ctx, key)
	if err != nil {
		return false, fmt.Errorf("read back %s: %w", s.url(key), err)
	}
	if !read.matches(want) {
		return false, s.discard(ctx, key, fmt.Errorf("object %s: read back %d bytes with SHA-256 %s, uploaded %d bytes with SHA-256 %s",
			s.url(key), read.size, read.sum(), want.size, want.sum()))
	}
	return true, nil
}

// PKIAt returns the tenant's PKI roots in force at time at: the newest stored at or before it.
// Roots stored only later (the first backup of a tenant older than the feature) are refused:
// they may not read what the snapshot holds. Changed or foreign-key roots are an *UnusableError.
func (s *Store) PKIAt(ctx context.Context, tenant string, at time.Time) ([]byte, time.Time, error) {
	dir, err := s.tenantPrefix(tenant)
	if err != nil {
		return nil, time.Time{}, err
	}
	if s.key == nil {
		return nil, time.Time{}, ErrNoKey
	}
	var found []minio.ObjectInfo
	for info := range s.client.ListObjectsIter(ctx, s.bucket, minio.ListObjectsOptions{Prefix: dir + pkiDir}) {
		if info.Err != nil {
			return nil, time.Time{}, fmt.Errorf("list %s: %w", s.url(dir+pkiDir), s.requestError(info.Err))
		}
		if !info.LastModified.After(at) {
			found = append(found, info)
		}
	}
	if len(found) == 0 {
		return nil, time.Time{}, fmt.Errorf("%w: none of %s at or before %s in %s", ErrNoPKI, tenant, at.UTC().Format(time.RFC3339), s.url(dir+pkiDir))
	}
	newest := slices.MaxFunc(found, func(a, b minio.ObjectInfo) int { return a.LastModified.Compare(b.LastModified) })
	obj, err := s.client.GetObject(ctx, s.bucket, newest.Key, minio.GetObjectOptions{})
	if err != nil {
		return nil, time.Time{}, s.requestError(err)
	}
	defer obj.Close()
	info, err := obj.Stat()
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("%s: %w", s.url(newest.Key), s.requestError(err))
	}
	sealed, err := io.ReadAll(obj)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("%s: %w", s.url(newest.Key), s.requestError(err))
	}
	read := newDigest()
	read.Write(sealed)
	if recorded := info.UserMetadata[metaSHA256]; !strings.EqualFold(recorded, read.sum()) {
		return nil, time.Time{}, unusable(fmt.Errorf("object %s: SHA-256 mismatch: the object is corrupt (recorded %s, read %s)", s.url(newest.Key), recorded, read.sum()))
	}
	var roots bytes.Buffer
	if _, err := sio.Decrypt(&roots, bytes.NewReader(sealed), s.dare(nil)); err != nil {
		return nil, time.Time{}, unusable(fmt.Errorf("object %s: cannot decrypt it with this key: %w", s.url(newest.Key), err))
	}
	return roots.Bytes(), newest.LastModified, nil
}

// PrunePKI removes the tenant's stored PKI roots that no restore can ask for: those neither the
// newest nor in force when a snapshot the store holds was uploaded (PKIAt's choice). It returns
// the keys it removed.
func (s *Store) PrunePKI(ctx context.Context, tenant string) ([]string, error) {
	dir, err := s.tenantPrefix(tenant)
	if err != nil {
		return nil, err
	}
	// The PKI first: roots stored after this listing are newer than any, and kept.
	var stored []minio.ObjectInfo
	for info := range s.client.ListObjectsIter(ctx, s.bucket, minio.ListObjectsOptions{Prefix: dir + pkiDir}) {
		if info.Err != nil {
			return nil, fmt.Errorf("list %s: %w", s.url(dir+pkiDir), s.requestError(info.Err))
		}
		stored = append(stored, info)
	}
	if len(stored) < 2 {
		return nil, nil
	}
	slices.SortFunc(stored, func(a, b minio.ObjectInfo) int { return a.LastModified.Compare(b.LastModified) })
	snapshots, err := s.List(ctx, tenant, "")
	if err != nil {
		return nil, err
	}
	needed := map[string]bool{stored[len(stored)-1].Key: true}
	for _, snap := range snapshots {
		// The newest stored at or before the snapshot's upload.
		if i := sort.Search(len(stored), func(i int) bool { return stored[i].LastModified.After(snap.Uploaded) }); i > 0 {
			needed[stored[i-1].Key] = true
		}
	}
	var removed []string
	for _, info := range stored {
		if needed[info.Key] {
			continue
		}
		if err := s.client.RemoveObject(ctx, s.bucket, info.Key, minio.RemoveObjectOptions{}); err != nil {
			return removed, fmt.Errorf("prune %s: %w", s.url(info.Key), s.requestError(err))
		}
		removed = append(removed, info.Key)
	}
	return removed, nil
}
