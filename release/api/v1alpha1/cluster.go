// Package v1alpha1 is the taowa.io/v1alpha1 API: the Cluster, one tenant master that the taowa
// operator keeps as a Helm release of charts/tenant-master. The CRD that serves it is
// charts/taowa-operator/crds/clusters.taowa.io.yaml; a test keeps the two in step.
//
// The types are plain structs read from and written to the dynamic client's unstructured
// objects (runtime.DefaultUnstructuredConverter), so they need no generated deep-copy code.
package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupVersion is the API group and version of Cluster.
var GroupVersion = schema.GroupVersion{Group: "taowa.io", Version: "v1alpha1"}

// Resource is the Cluster resource, as the dynamic client names it.
var Resource = GroupVersion.WithResource("clusters")

// Kind is the Cluster kind.
const Kind = "Cluster"

// Cluster is a tenant master: its spec is what the tenant should run, its status what runs.
type Cluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ClusterSpec   `json:"spec"`
	Status ClusterStatus `json:"status,omitempty"`
}

// ClusterSpec is the tenant master as it should be. Unset fields take the chart's defaults.
type ClusterSpec struct {
	// KubernetesVersion is X.Y.Z of a supported minor. A change of several minors is walked one
	// minor at a time; going back is refused (roll the release back instead).
	KubernetesVersion string `json:"kubernetesVersion"`
	// ImageRegistry holds the Kubernetes and etcd images (a mirror, air-gapped).
	ImageRegistry string `json:"imageRegistry,omitempty"`
	// Profile sizes every component's requests and limits: small (an idle or lightly used
	// tenant), medium (the default) or large; a component's own resources win over it.
	Profile Profile `json:"profile,omitempty"`
	// Master is the control plane's components.
	Master MasterSpec `json:"master,omitempty"`
	// Etcd is the tenant's etcd.
	Etcd EtcdSpec `json:"etcd,omitempty"`
	// Network is the tenant's address ranges and its VPC.
	Network NetworkSpec `json:"network,omitempty"`
	// Certificates are the validity and renewal of the tenant's PKI.
	Certificates CertificatesSpec `json:"certificates,omitempty"`
	// Addons are what the tenant gets as it comes, applied inside it: kube-proxy and CoreDNS,
	// both on unless turned off.
	Addons AddonsSpec `json:"addons,omitempty"`
	// Hibernated puts the tenant to sleep: its etcd and masters scale to zero, every byte of data
	// kept; false wakes it. The version cannot change while it sleeps, nor as it goes to sleep.
	Hibernated bool `json:"hibernated,omitempty"`
	// DeletionPolicy says what deleting the Cluster removes, after a final etcd snapshot:
	// Delete (the default) everything but the snapshot volume, which keeps the final snapshot;
	// Retain keeps what helm uninstall keeps (PKI Secrets, etcd volumes), so that a new Cluster
	// of the same name resumes the same tenant.
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`
}

// Profile names a sizing profile of the chart (its README has the numbers and where they come
// from).
type Profile string

const (
	ProfileSmall  Profile = "small"
	ProfileMedium Profile = "medium"
	ProfileLarge  Profile = "large"
)

// DeletionPolicy is what deleting a Cluster removes.
type DeletionPolicy string

const (
	DeletionPolicyDelete DeletionPolicy = "Delete"
	DeletionPolicyRetain DeletionPolicy = "Retain"
)

// OrDefault is p, or Delete when p is unset.
func (p DeletionPolicy) OrDefault() DeletionPolicy {
	if p == "" {
		return DeletionPolicyDelete
	}
	return p
}

// MasterSpec is the control plane's components.
type MasterSpec struct {
	APIServer         ComponentSpec `json:"apiserver,omitempty"`
	ControllerManager ComponentSpec `json:"controllerManager,omitempty"`
	Scheduler         ComponentSpec `json:"scheduler,omitempty"`
}

// ComponentSpec is one control-plane component.
type ComponentSpec struct {
	Replicas  *int32                       `json:"replicas,omitempty"`
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`
	// ExtraArgs are extra flags, name without dashes to value; a flag the tenant's version does
	// not know is refused.
	ExtraArgs map[string]string `json:"extraArgs,omitempty"`
}

// EtcdSpec is the tenant's etcd.
type EtcdSpec struct {
	// Replicas is 1 or 3.
	Replicas  *int32                       `json:"replicas,omitempty"`
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`
	Storage   StorageSpec                  `json:"storage,omitempty"`
	Snapshots SnapshotsSpec                `json:"snapshots,omitempty"`
	// Restore starts the new tenant's etcd from another tenant's snapshot in the object store
	// (spec.etcd.snapshots.objectStore), with that tenant's PKI roots as they were then: a
	// deleted tenant brought back, or a copy. It acts at install; kept, it changes nothing.
	Restore *RestoreSpec `json:"restore,omitempty"`
}

// RestoreSpec names a snapshot in the object store (taowa snapshots lists them).
type RestoreSpec struct {
	// From is the tenant NAMESPACE/NAME whose snapshot it is.
	From string `json:"from"`
	// Snapshot is its file name.
	Snapshot string `json:"snapshot"`
	// FreshPKI gives the tenant a PKI of its own instead of From's: From's clients do not work
	// with it, and Secrets From encrypted at rest cannot be read.
	FreshPKI bool `json:"freshPKI,omitempty"`
}

// StorageSpec is a volume claim's size and class.
type StorageSpec struct {
	Size             string `json:"size,omitempty"`
	StorageClassName string `json:"storageClassName,omitempty"`
}

// SnapshotsSpec is when etcd snapshots are taken and how many are kept.
type SnapshotsSpec struct {
	// Schedule is a cron schedule of scheduled snapshots; "" keeps the chart's.
	Schedule string `json:"schedule,omitempty"`
	// Retain is how many snapshots of each series are kept.
	Retain *int32 `json:"retain,omitempty"`
	// ObjectStore, when set, sends every verified snapshot to an S3-compatible object store too,
	// off the meta cluster (the chart's etcd.snapshots.objectStore).
	ObjectStore *ObjectStoreSpec `json:"objectStore,omitempty"`
}

// ObjectStoreSpec is an S3-compatible object store and the Secrets, in the Cluster's namespace,
// that give access to it.
type ObjectStoreSpec struct {
	// Endpoint is host:port of the S3 API.
	Endpoint string `json:"endpoint"`
	// Bucket must exist.
	Bucket string `json:"bucket"`
	// Prefix of the keys; snapshots go to <prefix>/<namespace>/<name>/.
	Prefix string `json:"prefix,omitempty"`
	Region string `json:"region,omitempty"`
	// Insecure is plain HTTP instead of HTTPS.
	Insecure bool `json:"insecure,omitempty"`
	// CredentialsSecret has keys access-key and secret-key, and ca.crt for a private CA.
	CredentialsSecret string `json:"credentialsSecret"`
	// EncryptionKeySecret, when set, has key "key": 64 hex digits that encrypt each snapshot
	// before it leaves.
	EncryptionKeySecret string `json:"encryptionKeySecret,omitempty"`
	// Retain is how many snapshots of each series the store keeps.
	Retain *int32 `json:"retain,omitempty"`
}

// NetworkSpec is the tenant's address ranges and its VPC.
type NetworkSpec struct {
	ServiceCIDR string `json:"serviceCIDR,omitempty"`
	PodCIDR     string `json:"podCIDR,omitempty"`
	// ENI puts the apiservers in the tenant's VPC: each takes an ENI of the subnet as its second NIC.
	ENI *ENISpec `json:"eni,omitempty"`
}

// ENISpec is the tenant's VPC and subnet.
type ENISpec struct {
	VPCID    string `json:"vpcID"`
	SubnetID string `json:"subnetID"`
}

// AddonsSpec turns the tenant's add-ons on or off (the chart's addons values).
type AddonsSpec struct {
	KubeProxy KubeProxySpec `json:"kubeProxy,omitempty"`
	CoreDNS   CoreDNSSpec   `json:"coreDNS,omitempty"`
}

// KubeProxySpec is kube-proxy on the tenant's nodes.
type KubeProxySpec struct {
	// Enabled unset keeps the chart's default, on.
	Enabled *bool `json:"enabled,omitempty"`
}

// CoreDNSSpec is CoreDNS behind the tenant's kube-dns Service.
type CoreDNSSpec struct {
	// Enabled unset keeps the chart's default, on.
	Enabled  *bool  `json:"enabled,omitempty"`
	Replicas *int32 `json:"replicas,omitempty"`
}

// CertificatesSpec is the validity and renewal of the tenant's PKI (Go durations).
type CertificatesSpec struct {
	CAValidity  string `json:"caValidity,omitempty"`
	Validity    string `json:"validity,omitempty"`
	RenewBefore string `json:"renewBefore,omitempty"`
}

// ClusterStatus is what the tenant master runs, as the operator last saw it.
type ClusterStatus struct {
	// ObservedGeneration is the spec generation the operator last acted on.
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// KubernetesVersion is the version the deployed release runs; during a walk across minors it
	// moves one minor at a time.
	KubernetesVersion string `json:"kubernetesVersion,omitempty"`
	// Revision is the Helm release's latest revision.
	Revision int `json:"revision,omitempty"`
	// Endpoint is the tenant apiserver's URL in the meta cluster.
	Endpoint string `json:"endpoint,omitempty"`
	// KubeconfigSecret holds the tenant's admin kubeconfig (key "kubeconfig").
	KubeconfigSecret string `json:"kubeconfigSecret,omitempty"`
	// LastScheduledSnapshot is when a scheduled etcd snapshot last succeeded (and was stored, with
	// an object store).
	LastScheduledSnapshot *metav1.Time `json:"lastScheduledSnapshot,omitempty"`
	// Conditions: Ready, Progressing, Degraded, a health condition per component,
	// CertificatesValid and SnapshotsHealthy.
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Condition types of a Cluster.
const (
	// ConditionReady: the tenant's apiserver serves, at Status.KubernetesVersion.
	ConditionReady = "Ready"
	// ReasonHibernated is Ready's reason while the tenant sleeps as its spec asks.
	ReasonHibernated = "Hibernated"
	// ReasonHibernating is Ready's reason while the sleeping tenant's Pods still stop.
	ReasonHibernating = "Hibernating"
	// ConditionProgressing: the operator is installing, upgrading or deleting the release.
	ConditionProgressing = "Progressing"
	// ConditionDegraded: the last change failed (and was rolled back) or is refused; the message
	// says why and what to do.
	ConditionDegraded = "Degraded"

	// Health of each component: True when every Pod is Ready and none crash-loops or waits to be
	// scheduled; False with the reason (CrashLoopBackOff, Unschedulable, ImagePullBackOff, ...)
	// and a message that names the Pod and container (the last exit and its message, or the
	// scheduler's). A hibernated component is True with reason Hibernated.
	ConditionEtcdHealthy              = "EtcdHealthy"
	ConditionAPIServerHealthy         = "APIServerHealthy"
	ConditionControllerManagerHealthy = "ControllerManagerHealthy"
	ConditionSchedulerHealthy         = "SchedulerHealthy"
	// ConditionCertificatesValid: False when the earliest of the tenant's certificates expires
	// within a week or has expired; the message names it.
	ConditionCertificatesValid = "CertificatesValid"
	// ConditionSnapshotsHealthy: False when the newest scheduled etcd snapshot failed (reason
	// SnapshotFailed; the message names the Job and says why), True once one succeeds.
	ConditionSnapshotsHealthy = "SnapshotsHealthy"
)

// Finalizer holds a Cluster until its final snapshot is taken and its release removed.
const Finalizer = "taowa.io/release"
