package skew

import (
	"context"
	"fmt"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// AnnotationEtcdMembers on the etcd StatefulSet is the tenant's etcd.replicas, whether its
// members run or sleep.
const AnnotationEtcdMembers = "taowa.io/etcd-members"

// CheckEtcdMembers refuses a step that changes the number of etcd members of a running tenant.
// The chart starts its members as a new cluster (--initial-cluster-state=new): a member added by
// raising etcd.replicas would start a second, empty cluster beside the first, with a quorum of its
// own, and the apiservers would read from both; lowering it loses the quorum. Membership changes
// need member add and remove one at a time, which taowa does not do, so the count is fixed for the
// life of the release. No etcd StatefulSet (a first install or Argo CD sync): nothing to compare.
// The members are the StatefulSet's AnnotationEtcdMembers, which stays while a hibernated tenant
// runs none; a StatefulSet of a chart before it has its replicas.
func CheckEtcdMembers(ctx context.Context, meta kubernetes.Interface, namespace, fullName string, want int) error {
	name := fullName + "-etcd"
	sts, err := meta.AppsV1().StatefulSets(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read StatefulSet %s/%s: %w", namespace, name, err)
	}
	running := 1
	if sts.Spec.Replicas != nil {
		running = int(*sts.Spec.Replicas)
	}
	if members, ok := sts.Annotations[AnnotationEtcdMembers]; ok {
		if running, err = strconv.Atoi(members); err != nil {
			return fmt.Errorf("StatefulSet %s/%s: annotation %s=%q: %w", namespace, name, AnnotationEtcdMembers, members, err)
		}
	}
	if running == want {
		return nil
	}
	return &RefusedError{Reason: fmt.Errorf("etcd.replicas is %d on the running tenant (StatefulSet %s/%s) and the release asks for %d: "+
		"the number of etcd members cannot change on a running tenant (new members would form a second, empty cluster; "+
		"fewer would lose the quorum); keep etcd.replicas at %d", running, namespace, name, want, running)}
}
