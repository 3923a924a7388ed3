package operator

import (
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/taowa/taowa/release/api/v1alpha1"
)

// ChartValues returns the charts/tenant-master values a Cluster's spec asks for, without
// kubernetesVersion (the Manager sets it per step). A field left unset is left out, so the
// chart's default applies.
func ChartValues(spec v1alpha1.ClusterSpec) (map[string]any, error) {
	v := values{}
	v.set(spec.ImageRegistry, "imageRegistry")
	v.set(string(spec.Profile), "profile")
	if spec.Hibernated {
		v.set(true, "hibernated")
	}
	v.set(spec.Network.ServiceCIDR, "serviceCIDR")
	v.set(spec.Network.PodCIDR, "podCIDR")
	if eni := spec.Network.ENI; eni != nil {
		v.set(true, "network", "eni", "enabled")
		v.set(eni.VPCID, "network", "eni", "vpcID")
		v.set(eni.SubnetID, "network", "eni", "subnetID")
	}
	v.set(spec.Certificates.CAValidity, "certificates", "caValidity")
	v.set(spec.Certificates.Validity, "certificates", "validity")
	v.set(spec.Certificates.RenewBefore, "certificates", "renewBefore")
	v.set(spec.Addons.KubeProxy.Enabled, "addons", "kubeProxy", "enabled")
	v.set(spec.Addons.CoreDNS.Enabled, "addons", "coreDNS", "enabled")
	v.set(spec.Addons.CoreDNS.Replicas, "addons", "coreDNS", "replicas")

	v.component(spec.Master.APIServer, "apiserver")
	v.component(spec.Master.ControllerManager, "controllerManager")
	v.component(spec.Master.Scheduler, "scheduler")

	etcd := spec.Etcd
	v.set(etcd.Replicas, "etcd", "replicas")
	v.set(etcd.Resources, "etcd", "resources")
	v.set(etcd.Storage.Size, "etcd", "storage", "size")
	v.set(etcd.Storage.StorageClassName, "etcd", "storage", "storageClassName")
	v.set(etcd.Snapshots.Schedule, "etcd", "snapshots", "schedule")
	v.set(etcd.Snapshots.Retain, "etcd", "snapshots", "retain")
	if restore := etcd.Restore; restore != nil {
		v.set(restore.Snapshot, "etcd", "restoreFrom")
		v.set(restore.From, "etcd", "restoreFromTenant")
	}
	if store := etcd.Snapshots.ObjectStore; store != nil {
		v.set(store.Endpoint, "etcd", "snapshots", "objectStore", "endpoint")
		v.set(store.Bucket, "etcd", "snapshots", "objectStore", "bucket")
		v.set(store.Prefix, "etcd", "snapshots", "objectStore", "prefix")
		v.set(store.Region, "etcd", "snapshots", "objectStore", "region")
		v.set(store.Insecure, "etcd", "snapshots", "objectStore", "insecure")
		v.set(store.CredentialsSecret, "etcd", "snapshots", "objectStore", "credentialsSecret")
		v.set(store.EncryptionKeySecret, "etcd", "snapshots", "objectStore", "encryptionKeySecret")
		v.set(store.Retain, "etcd", "snapshots", "objectStore", "retain")
	}
	return v.plain()
}

// values is a tree of chart values under construction.
type values map[string]any

func (v values) component(c v1alpha1.ComponentSpec, name string) {
	v.set(c.Replicas, name, "replicas")
	v.set(c.Resources, name, "resources")
	if len(c.ExtraArgs) > 0 {
		v.set(c.ExtraArgs, name, "extraArgs")
	}
}

// set puts value at path unless it is unset: the empty string or a nil pointer. A pointer's
// value is stored, not the pointer.
func (v values) set(value any, path ...string) {
	if s, ok := value.(string); ok && s == "" {
		return
	}
	if rv := reflect.ValueOf(value); rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return
		}
		value = rv.Elem().Interface()
	}
	node := v
	for _, key := range path[:len(path)-1] {
		child, ok := node[key].(values)
		if !ok {
			child = values{}
			node[key] = child
		}
		node = child
	}
	node[path[len(path)-1]] = value
}

// plain returns the tree as JSON values (maps, strings, float64s), as Helm stores values: a
// resources block becomes {requests: {cpu: "250m"}}.
func (v values) plain() (map[string]any, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("chart values: %w", err)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("chart values: %w", err)
	}
	return out, nil
}
