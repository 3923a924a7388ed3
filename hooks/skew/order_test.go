package skew

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/kubernetes/fake"
)

// An apiserver whose etcd member runs still waits until the address it will dial answers: on a
// wake, a member's name can resolve to its previous Pod for a while.
func TestWaitOrderWaitsForEtcdToAnswer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	etcd := runningEtcd()
	etcd.Namespace = "tenants"
	etcd.Labels["app.kubernetes.io/instance"] = "tenant-a"
	meta := fake.NewClientset(&etcd)

	// An address nobody listens on yet.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	address := l.Addr().String()
	require.NoError(t, l.Close())

	var mu sync.Mutex
	var logged []string
	log := func(msg string) { mu.Lock(); logged = append(logged, msg); mu.Unlock() }
	waitingFor := func(prefix string) func() bool {
		return func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(logged) > 0 && strings.HasPrefix(logged[len(logged)-1], prefix)
		}
	}
	done := make(chan error, 1)
	go func() {
		done <- WaitOrder(ctx, meta, "tenants", "tenant-a", apiserver, v("1.37.2"), []string{"https://" + address}, log)
	}()
	require.Eventually(t, waitingFor("waiting: etcd not reachable: dial tcp "+address), 10*time.Second, 10*time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("WaitOrder returned %v while etcd did not answer", err)
	default:
	}

	l, err = net.Listen("tcp", address)
	require.NoError(t, err)
	defer l.Close()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-ctx.Done():
		t.Fatal("WaitOrder still waits with etcd answering")
	}
}

func TestWaitOrderRefusesBadEtcdServers(t *testing.T) {
	ctx := context.Background()
	meta := fake.NewClientset()
	err := WaitOrder(ctx, meta, "tenants", "tenant-a", apiserver, v("1.37.2"), []string{"tenant-a-etcd-client:2379"}, func(string) {})
	assert.EqualError(t, err, `etcd server "tenant-a-etcd-client:2379" is not a URL with a host`)
	err = WaitOrder(ctx, meta, "tenants", "tenant-a", apiserver, v("1.37.2"), nil, func(string) {})
	assert.EqualError(t, err, "an apiserver waits for its etcd servers: none given")
}
