package eni

import (
	"context"
	"errors"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestPodResolver(t *testing.T) {
	pod := func(name string, annotations map[string]string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "tenant-a", Name: name, Annotations: annotations}}
	}
	client := fake.NewClientset(
		pod("apiserver", map[string]string{AnnotationVPCID: "vpc-a", AnnotationSubnetID: "subnet-1"}),
		pod("plain", nil),
		pod("subnet-only", map[string]string{AnnotationSubnetID: "subnet-1"}),
	)
	r := PodResolver{Client: client, Fallback: ArgsResolver{}}
	conf := &NetConf{VPCID: "vpc-default"}
	args := func(name string) string { return "IgnoreUnknown=1;K8S_POD_NAMESPACE=tenant-a;K8S_POD_NAME=" + name }

	s, err := r.Resolve(context.Background(), ResolveRequest{CNIArgs: args("apiserver"), Conf: conf})
	require.NoError(t, err)
	assert.Equal(t, Selector{VPCID: "vpc-a", SubnetID: "subnet-1"}, s, "the Pod's annotations win over the configuration's default")

	s, err = r.Resolve(context.Background(), ResolveRequest{CNIArgs: args("plain"), Conf: conf})
	require.NoError(t, err)
	assert.Equal(t, Selector{VPCID: "vpc-default"}, s, "without annotations the fallback decides")

	s, err = r.Resolve(context.Background(), ResolveRequest{CNIArgs: "", Conf: conf})
	require.NoError(t, err)
	assert.Equal(t, Selector{VPCID: "vpc-default"}, s, "a sandbox that is not a Pod goes to the fallback")

	_, err = r.Resolve(context.Background(), ResolveRequest{CNIArgs: args("subnet-only"), Conf: conf})
	var cniErr *types.Error
	require.True(t, errors.As(err, &cniErr), "%v", err)
	assert.Equal(t, uint(types.ErrInvalidNetworkConfig), cniErr.Code)
	assert.Contains(t, cniErr.Msg, "Pod tenant-a/subnet-only has annotation eni.taowa.io/subnet-id without eni.taowa.io/vpc-id")

	_, err = r.Resolve(context.Background(), ResolveRequest{CNIArgs: args("gone"), Conf: conf})
	require.True(t, errors.As(err, &cniErr), "%v", err)
	assert.Equal(t, uint(types.ErrInvalidEnvironmentVariables), cniErr.Code)
	assert.Contains(t, cniErr.Msg, "read Pod tenant-a/gone")
}
