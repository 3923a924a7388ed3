package objectstore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/sio"

	"github.com/taowa/taowa/hooks/etcdsnapshot"
)

// incomingPrefix marks a download not verified yet: etcdsnapshot's own marker, so a snapshot
// run in the directory removes what a killed download left.
const incomingPrefix = ".incoming-"

// Upload stores the tenant's snapshot, an already verified file, and reads it back to check the
// store kept what was sent; an object that fails the check is removed. The metadata (SHA-256
// of the stored bytes among it) goes out in the PUT's headers, before the body: so the file is
// read twice, once to hash it and once to send it, hashed again to catch a change in between.
func (s *Store) Upload(ctx context.Context, tenant string, snap etcdsnapshot.Snapshot) (Object, error) {
	dir, err := s.tenantPrefix(tenant)
	if err != nil {
		return Object{}, err
	}
	name := filepath.Base(snap.Path)
	if !isSnapshotName(name) {
		return Object{}, fmt.Errorf("upload %s: not a snapshot file name", snap.Path)
	}
	key := dir + name
	// One nonce for both passes: the encryption then gives the same bytes twice.
	var nonce [12]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return Object{}, err
	}
	want, snapshotSize, err := s.digestStored(snap.Path, &nonce)
	if err != nil {
		return Object{}, fmt.Errorf("upload %s: %w", snap.Path, err)
	}
	meta := map[string]string{
		metaSHA256:       want.sum(),
		metaSnapshotSize: strconv.FormatInt(snapshotSize, 10),
		metaRevision:     strconv.FormatInt(snap.Revision, 10),
		metaTotalKeys:    strconv.Itoa(snap.TotalKeys),
		metaEtcdVersion:  snap.Version,
		metaEncrypted:    strconv.FormatBool(s.key != nil),
	}

	body, file, err := s.openStored(snap.Path, &nonce)
	if err != nil {
		return Object{}, fmt.Errorf("upload %s: %w", snap.Path, err)
	}
	defer file.Close()
	sent := newDigest()
	_, err = s.client.PutObject(ctx, s.bucket, key, io.TeeReader(body, sent), want.size,
		minio.PutObjectOptions{UserMetadata: meta, ContentType: "application/octet-stream"})
	if err != nil {
		return Object{}, fmt.Errorf("upload %s to %s: %w", snap.Path, s.url(key), s.requestError(err))
	}
	if !sent.matches(want) {
		return Object{}, s.discard(ctx, key, fmt.Errorf("upload %s: the file changed while it was uploaded", snap.Path))
	}

	read, info, err := s.readBack(ctx, key)
	if err != nil {
		return Object{}, fmt.Errorf("read back %s: %w", s.url(key), err)
	}
	if !read.matches(want) {
		return Object{}, s.discard(ctx, key, fmt.Errorf("object %s: read back %d bytes with SHA-256 %s, uploaded %d bytes with SHA-256 %s",
			s.url(key), read.size, read.sum(), want.size, want.sum()))
	}
	return objectFromInfo(dir, info), nil
}

// readBack reads an object whole, for the digest of its bytes and its metadata.
func (s *Store) readBack(ctx context.Context, key string) (*digest, minio.ObjectInfo, error) {
	obj, err := s.client.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, minio.ObjectInfo{}, s.requestError(err)
	}
	defer obj.Close()
	// Before reading: afterwards, Stat gives the size left to read.
	info, err := obj.Stat()
	if err != nil {
		return nil, minio.ObjectInfo{}, s.requestError(err)
	}
	read := newDigest()
	if _, err := io.Copy(read, obj); err != nil {
		return nil, minio.ObjectInfo{}, s.requestError(err)
	}
	return read, info, nil
}

// digestStored hashes the snapshot file as the store keeps it; it returns that and the file's
// own size.
func (s *Store) digestStored(path string, nonce *[12]byte) (*digest, int64, error) {
	body, file, err := s.openStored(path, nonce)
	if err != nil {
		return nil, 0, err
	}
	defer file.Close()
	info, err := file.Stat()
	if err != nil {
		return nil, 0, err
	}
	d := newDigest()
	if _, err := io.Copy(d, body); err != nil {
		return nil, 0, err
	}
	return d, info.Size(), nil
}

// openStored opens the snapshot file as the store keeps it: encrypted when the store has a key.
// It returns the stream and the file to close.
func (s *Store) openStored(path string, nonce *[12]byte) (io.Reader, *os.File, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	if s.key == nil {
		return file, file, nil
	}
	encrypted, err := sio.EncryptReader(file, s.dare(nonce))
	if err != nil {
		file.Close()
		return nil, nil, fmt.Errorf("encrypt %s: %w", path, err)
	}
	return encrypted, file, nil
}

// dare is the encryption: DARE 2.0 with AES-256-GCM only. A nil nonce is for decrypting, which
// reads it from the stream.
func (s *Store) dare(nonce *[12]byte) sio.Config {
	return sio.Config{MinVersion: sio.Version20, MaxVersion: sio.Version20, CipherSuites: []byte{sio.AES_256_GCM}, Key: s.key, Nonce: nonce}
}

// discard removes an object that failed its check, so no bad copy stays under a snapshot's name.
func (s *Store) discard(ctx context.Context, key string, cause error) error {
	if err := s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{}); err != nil {
		return fmt.Errorf("%w; removing %s failed too: %w", cause, s.url(key), s.requestError(err))
	}
	return fmt.Errorf("%w; removed %s", cause, s.url(key))
}

// Download fetches the tenant's snapshot name into dir and returns it verified. The stored bytes
// are checked against the size and SHA-256 recorded at upload before the snapshot is used; it is
// written under a hidden name and renamed once verified (replacing a file of that name), so a
// failure leaves nothing in dir. An object stored unencrypted needs no key. An object that cannot
// be used is refused with an *UnusableError.
func (s *Store) Download(ctx context.Context, tenant, name, dir string) (etcdsnapshot.Snapshot, error) {
	prefix, err := s.tenantPrefix(tenant)
	if err != nil {
		return etcdsnapshot.Snapshot{}, err
	}
	if !isSnapshotName(name) {
		return etcdsnapshot.Snapshot{}, unusable(fmt.Errorf("download %q: not a snapshot file name", name))
	}
	key := prefix + name
	obj, err := s.client.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return etcdsnapshot.Snapshot{}, fmt.Errorf("download %s: %w", s.url(key), s.requestError(err))
	}
	defer obj.Close()
	// The metadata of the GET itself: it describes the very bytes read.
	info, err := obj.Stat()
	if s3Code(err) == minio.NoSuchKey {
		return etcdsnapshot.Snapshot{}, unusable(s.notFound(ctx, tenant, prefix, name))
	}
	if err != nil {
		return etcdsnapshot.Snapshot{}, fmt.Errorf("download %s: %w", s.url(key), s.requestError(err))
	}
	recorded := objectFromInfo(prefix, info)
	if recorded.SHA256 == "" {
		return etcdsnapshot.Snapshot{}, unusable(fmt.Errorf("object %s has no recorded SHA-256: it was not uploaded as a snapshot, and cannot be verified", s.url(key)))
	}
	if recorded.Encrypted && s.key == nil {
		return etcdsnapshot.Snapshot{}, unusable(fmt.Errorf("object %s is encrypted: the store needs its encryption key", s.url(key)))
	}

	incoming, err := os.CreateTemp(dir, incomingPrefix+name+".*")
	if err != nil {
		return etcdsnapshot.Snapshot{}, fmt.Errorf("download %s: %w", s.url(key), err)
	}
	snap, err := s.receive(obj, recorded, incoming)
	if err != nil {
		os.Remove(incoming.Name())
		return etcdsnapshot.Snapshot{}, err
	}
	final := filepath.Join(dir, name)
	if err := os.Rename(incoming.Name(), final); err != nil {
		os.Remove(incoming.Name())
		return etcdsnapshot.Snapshot{}, err
	}
	snap.Path = final
	return snap, nil
}

// receive writes the object's snapshot to file, checks the stored bytes against what the upload
// recorded, and verifies the snapshot. It closes file.
func (s *Store) receive(obj *minio.Object, recorded Object, file *os.File) (etcdsnapshot.Snapshot, error) {
	defer file.Close()
	where := s.url(recorded.Key)
	wantSize := recorded.SnapshotSize
	if recorded.Encrypted {
		size, err := sio.EncryptedSize(uint64(recorded.SnapshotSize))
		if err != nil {
			return etcdsnapshot.Snapshot{}, unusable(fmt.Errorf("object %s: recorded snapshot size %d: %w", where, recorded.SnapshotSize, err))
		}
		wantSize = int64(size)
	}
	read := newDigest()
	stored := io.TeeReader(obj, read)
	snapshot := stored
	if recorded.Encrypted {
		decrypted, err := sio.DecryptReader(stored, s.dare(nil))
		if err != nil {
			return etcdsnapshot.Snapshot{}, unusable(fmt.Errorf("decrypt %s: %w", where, err))
		}
		snapshot = decrypted
	}
	_, copyErr := io.Copy(file, snapshot)
	var decryptErr sio.Error
	if errors.As(copyErr, &decryptErr) {
		// Read the rest: the digest then tells a changed object from a wrong key.
		if _, err := io.Copy(io.Discard, stored); err != nil {
			return etcdsnapshot.Snapshot{}, fmt.Errorf("download %s: %w", where, s.requestError(err))
		}
	} else if copyErr != nil {
		return etcdsnapshot.Snapshot{}, fmt.Errorf("download %s: %w", where, s.requestError(copyErr))
	}
	if read.size != wantSize {
		return etcdsnapshot.Snapshot{}, unusable(fmt.Errorf("object %s: size mismatch: the object is corrupt (recorded %d bytes, read %d)", where, wantSize, read.size))
	}
	if got := read.sum(); got != recorded.SHA256 {
		return etcdsnapshot.Snapshot{}, unusable(fmt.Errorf("object %s: SHA-256 mismatch: the object is corrupt (recorded %s, read %s)", where, recorded.SHA256, got))
	}
	if copyErr != nil {
		return etcdsnapshot.Snapshot{}, unusable(fmt.Errorf("object %s: its bytes are as uploaded, but they do not decrypt with the store's encryption key: is it the key they were uploaded with? (%w)", where, copyErr))
	}
	if err := file.Sync(); err != nil {
		return etcdsnapshot.Snapshot{}, err
	}
	snap, err := etcdsnapshot.Verify(file.Name())
	if err != nil {
		return etcdsnapshot.Snapshot{}, unusable(fmt.Errorf("object %s: %w", where, err))
	}
	return snap, nil
}

// UnusableError is Download's refusal of an object no retry makes usable: missing, changed
// since its upload, not uploaded as a snapshot, not an etcd snapshot, or sealed with another
// key. Download's other errors (the store unreachable, the local disk) may pass.
type UnusableError struct{ Err error }

func (e *UnusableError) Error() string { return e.Err.Error() }
func (e *UnusableError) Unwrap() error { return e.Err }

func unusable(err error) error { return &UnusableError{Err: err} }

// notFound says that the tenant has no snapshot name, and which it has.
func (s *Store) notFound(ctx context.Context, tenant, prefix, name string) error {
	objects, err := s.List(ctx, tenant, "")
	if err != nil {
		return fmt.Errorf("snapshot %s of %s not found in %s; listing what is there failed: %w", name, tenant, s.url(prefix), err)
	}
	held := "none"
	if len(objects) > 0 {
		names := make([]string, len(objects))
		for i, o := range objects {
			names[i] = o.Name
		}
		held = strings.Join(names, ", ")
	}
	return fmt.Errorf("snapshot %s of %s not found in %s; the store holds: %s", name, tenant, s.url(prefix), held)
}

// digest counts and hashes the bytes written to it.
type digest struct {
	size int64
	hash hash.Hash
}

func newDigest() *digest { return &digest{hash: sha256.New()} }

func (d *digest) Write(p []byte) (int, error) {
	d.size += int64(len(p))
	return d.hash.Write(p)
}

func (d *digest) sum() string { return hex.EncodeToString(d.hash.Sum(nil)) }

func (d *digest) matches(other *digest) bool { return d.size == other.size && d.sum() == other.sum() }
