package tenants

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/taowa/taowa/release/tenants/tenantstest"
)

// healthyMembers answers for the three members of servingPods: 20 MiB of a 2 GiB quota.
func healthyMembers() map[string]tenantstest.EtcdMember {
	p := map[string]tenantstest.EtcdMember{}
	for i := range 3 {
		p[fmt.Sprintf("tenant-a-etcd-%d", i)] = tenantstest.HealthyEtcdMember
	}
	return p
}

func healthWith(t *testing.T, members map[string]tenantstest.EtcdMember, objs ...runtime.Object) Health {
	t.Helper()
	client := fake.NewClientset(objs...)
	tenantstest.ServeEtcd(client, members)
	h, err := TenantHealth(context.Background(), client, "t", "tenant-a")
	require.NoError(t, err)
	return h
}

func TestHealthReadsEachEtcdMembersDatabase(t *testing.T) {
	h := healthWith(t, healthyMembers(), append(healthTenant(3, 1, 1, 1), servingPods()...)...)
	require.Len(t, h.Etcd, 3)
	assert.Equal(t, EtcdMember{Pod: "tenant-a-etcd-0", DBSize: 20 << 20, DBSizeInUse: 12 << 20, Quota: 2 << 30}, h.Etcd[0])
	assert.True(t, component(t, h, "etcd").Healthy)
	assert.True(t, h.Healthy)
}

func TestHealthReportsAnEtcdAlarmWhileItsPodsAreReady(t *testing.T) {
	members := healthyMembers()
	members["tenant-a-etcd-1"] = tenantstest.EtcdMember{Metrics: tenantstest.EtcdMetrics(2<<30, 2<<30, 2<<30), Health: `{"health":"false","reason":"ALARM NOSPACE"}`}
	h := healthWith(t, members, append(healthTenant(3, 1, 1, 1), servingPods()...)...)

	etcd := component(t, h, "etcd")
	assert.False(t, etcd.Healthy)
	assert.False(t, h.Healthy)
	assert.Equal(t, ReasonEtcdAlarm, etcd.Reason)
	assert.Equal(t, "pod tenant-a-etcd-1: alarm NOSPACE, database 2.0 GiB of its 2.0 GiB quota", etcd.Message)
	assert.Equal(t, []string{"NOSPACE"}, h.Etcd[1].Alarms)
}

func TestHealthWarnsOfAnEtcdDatabaseNearItsQuota(t *testing.T) {
	members := healthyMembers()
	members["tenant-a-etcd-2"] = tenantstest.EtcdMember{Metrics: tenantstest.EtcdMetrics(95<<20, 40<<20, 100<<20), Health: tenantstest.HealthyEtcd}
	h := healthWith(t, members, append(healthTenant(3, 1, 1, 1), servingPods()...)...)

	etcd := component(t, h, "etcd")
	assert.False(t, etcd.Healthy)
	assert.Equal(t, ReasonEtcdNearQuota, etcd.Reason)
	assert.Contains(t, etcd.Message, "pod tenant-a-etcd-2: database 95 MiB is 95% of its 100 MiB quota (40 MiB in use)")
}

func TestHealthKeepsAnUnreadableEtcdMemberApart(t *testing.T) {
	members := healthyMembers()
	delete(members, "tenant-a-etcd-0")
	members["tenant-a-etcd-1"] = tenantstest.EtcdMember{Metrics: "etcd_server_quota_backend_bytes{", Health: tenantstest.HealthyEtcd}
	h := healthWith(t, members, append(healthTenant(3, 1, 1, 1), servingPods()...)...)

	assert.Contains(t, h.Etcd[0].Unreadable, "GET /metrics of pod tenant-a-etcd-0 through the apiserver's proxy")
	assert.Contains(t, h.Etcd[1].Unreadable, "metrics of pod tenant-a-etcd-1")
	assert.Empty(t, h.Etcd[2].Unreadable)
	// What cannot be read is not news of a problem: the Pods' own state judges the component.
	assert.True(t, component(t, h, "etcd").Healthy)
}

func TestHealthAsksNoEtcdMemberThatIsNotRunning(t *testing.T) {
	pending := healthPod("tenant-a-etcd-0", "etcd", 0, false, 0)
	pending.Status.Phase = "Pending"
	h := healthWith(t, map[string]tenantstest.EtcdMember{}, append(healthTenant(1, 1, 1, 1), pending)...)
	assert.Empty(t, h.Etcd)
}

func TestHealthAlarmsReadsEtcdsHealthAnswer(t *testing.T) {
	assert.Equal(t, []string{"CORRUPT"}, healthAlarms([]byte(`{"health":"false","reason":"ALARM CORRUPT"}`)))
	assert.Nil(t, healthAlarms([]byte(`{"health":"false","reason":"RAFT NO LEADER"}`)))
	assert.Nil(t, healthAlarms([]byte(tenantstest.HealthyEtcd)))
	assert.Nil(t, healthAlarms([]byte("not json")))
}
