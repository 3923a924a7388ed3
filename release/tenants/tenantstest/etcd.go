package tenantstest

import (
	"context"
	"fmt"
	"io"
	"strings"

	k8sfake "k8s.io/client-go/kubernetes/fake"
	restclient "k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"
)

// EtcdMember is what a fake etcd member's metrics port answers through the apiserver's Pod
// proxy: its /metrics and /health bodies.
type EtcdMember struct{ Metrics, Health string }

// HealthyEtcd is /health of a member without alarms.
const HealthyEtcd = `{"health":"true","reason":""}`

// EtcdMetrics is the part of an etcd member's /metrics that taowa reads, with a neighbour.
func EtcdMetrics(size, inUse, quota int64) string {
	return fmt.Sprintf(`# HELP etcd_mvcc_db_total_size_in_bytes Total size of the underlying database physically allocated in bytes.
# TYPE etcd_mvcc_db_total_size_in_bytes gauge
etcd_mvcc_db_total_size_in_bytes %d
# HELP etcd_mvcc_db_total_size_in_use_in_bytes Total size of the underlying database logically in use in bytes.
# TYPE etcd_mvcc_db_total_size_in_use_in_bytes gauge
etcd_mvcc_db_total_size_in_use_in_bytes %d
# HELP etcd_server_quota_backend_bytes Current backend storage quota size in bytes.
# TYPE etcd_server_quota_backend_bytes gauge
etcd_server_quota_backend_bytes %d
# HELP etcd_server_has_leader Whether or not a leader exists. 1 is existence, 0 is not.
# TYPE etcd_server_has_leader gauge
etcd_server_has_leader 1
`, size, inUse, quota)
}

// HealthyEtcdMember has 20 MiB in a 2 GiB quota.
var HealthyEtcdMember = EtcdMember{Metrics: EtcdMetrics(20<<20, 12<<20, 2<<30), Health: HealthyEtcd}

// ServeEtcd makes client's Pod proxy answer GETs of port 2381 of the Pods named in members;
// any other Pod, port or path fails as an unreachable one does. A nil members answers every
// Pod as HealthyEtcdMember.
func ServeEtcd(client *k8sfake.Clientset, members map[string]EtcdMember) {
	client.PrependProxyReactor("pods", func(action k8stesting.Action) (bool, restclient.ResponseWrapper, error) {
		get := action.(k8stesting.ProxyGetAction)
		member, ok := members[get.GetName()]
		if members == nil {
			member, ok = HealthyEtcdMember, true
		}
		switch {
		case !ok || get.GetPort() != "2381":
			return true, response{err: fmt.Errorf("no such endpoint %s:%s", get.GetName(), get.GetPort())}, nil
		case get.GetPath() == "/metrics":
			return true, response{body: member.Metrics}, nil
		case get.GetPath() == "/health":
			return true, response{body: member.Health}, nil
		}
		return true, response{err: fmt.Errorf("no path %s", get.GetPath())}, nil
	})
}

// response is a proxied GET's answer.
type response struct {
	body string
	err  error
}

func (r response) DoRaw(context.Context) ([]byte, error) { return []byte(r.body), r.err }
func (r response) Stream(context.Context) (io.ReadCloser, error) {
	return io.NopCloser(strings.NewReader(r.body)), r.err
}
