package metacluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// The meta cluster's S3 object store: VersityGW's gateway over a volume of the cluster, so that
// tenants' etcd snapshots can go somewhere their own namespaces' volumes are not. One per meta
// cluster, in a namespace of its own; Down removes it with the rest.
const (
	ObjectStoreNamespace = "taowa-objectstore"
	// ObjectStoreName names its Deployment, Service, volume claim and the Secret of its root
	// credentials (keys AccessKeyKey and SecretKeyKey).
	ObjectStoreName = "objectstore"
	ObjectStorePort = 7070
	// ObjectStoreRegion is the region it answers for.
	ObjectStoreRegion = "us-east-1"
	// ObjectStoreBucket is the bucket ObjectStoreUp creates, for snapshots.
	ObjectStoreBucket = "taowa-snapshots"
	AccessKeyKey      = "access-key"
	SecretKeyKey      = "secret-key"
)

// ObjectStore says where the object store answers and with which root credentials.
type ObjectStore struct {
	// Endpoint is host:port by the Service's DNS name, for Pods.
	Endpoint string
	// HostEndpoint is host:port by the Service's ClusterIP, for the host (which routes Service
	// addresses into the cluster's namespace).
	HostEndpoint         string
	Region, Bucket       string
	AccessKey, SecretKey string
}

// VersityGWBin is the object store's binary (hack/build-tools.sh versitygw).
func (c Config) VersityGWBin() string { return c.toolBin("versitygw", c.VersityGWVersion, "versitygw") }

func (c Config) objectStoreImage() Image {
	return BinaryImage("localhost/taowa/versitygw:"+c.VersityGWVersion, c.VersityGWBin(), "/usr/local/bin/versitygw", "65532")
}

// ObjectStoreUp starts the object store when it does not run, waits until it serves and creates
// the snapshot bucket when missing. Running it again changes nothing.
func ObjectStoreUp(ctx context.Context, c Config, out io.Writer) (ObjectStore, error) {
	client, err := c.Client()
	if err != nil {
		return ObjectStore{}, err
	}
	img := c.objectStoreImage()
	if err := c.BuildAndImport(img); err != nil {
		return ObjectStore{}, fmt.Errorf("object store image (hack/build-tools.sh versitygw builds its binary): %w", err)
	}
	if err := applyObjectStore(ctx, client, img.Ref); err != nil {
		return ObjectStore{}, err
	}
	store, err := objectStoreOf(ctx, client)
	if err != nil {
		return ObjectStore{}, err
	}
	fmt.Fprintf(out, "object store: waiting until %s serves\n", store.Endpoint)
	s3, err := minio.New(store.HostEndpoint, &minio.Options{Creds: credentials.NewStaticV4(store.AccessKey, store.SecretKey, ""), Region: store.Region})
	if err != nil {
		return ObjectStore{}, err
	}
	var exists bool
	err = waitFor(ctx, 2*time.Minute, func(ctx context.Context) error {
		exists, err = s3.BucketExists(ctx, store.Bucket)
		return err
	})
	if err != nil {
		return ObjectStore{}, fmt.Errorf("object store at %s: %w", store.HostEndpoint, err)
	}
	if !exists {
		if err := s3.MakeBucket(ctx, store.Bucket, minio.MakeBucketOptions{Region: store.Region}); err != nil {
			return ObjectStore{}, fmt.Errorf("create bucket %s: %w", store.Bucket, err)
		}
	}
	fmt.Fprintf(out, "object store: s3://%s at %s (region %s); root credentials in Secret %s/%s\n",
		store.Bucket, store.Endpoint, store.Region, ObjectStoreNamespace, ObjectStoreName)
	return store, nil
}

// ObjectStoreDown removes the object store and everything it holds.
func ObjectStoreDown(ctx context.Context, c Config) error {
	return c.deleteNamespace(ctx, ObjectStoreNamespace)
}

// applyObjectStore creates what is missing: the namespace, the root credentials (random, made
// once), the data volume, the Deployment and the Service.
func applyObjectStore(ctx context.Context, client kubernetes.Interface, image string) error {
	labels := map[string]string{"app.kubernetes.io/name": ObjectStoreName}
	root := make([]byte, 20)
	if _, err := rand.Read(root); err != nil {
		return err
	}
	objects := []struct {
		kind   string
		create func() error
	}{
		{"Namespace", func() error { return createNamespace(ctx, client, ObjectStoreNamespace) }},
		{"Secret", func() error {
			_, err := client.CoreV1().Secrets(ObjectStoreNamespace).Create(ctx, &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Name: ObjectStoreName, Labels: labels},
				StringData: map[string]string{AccessKeyKey: "taowa-" + hex.EncodeToString(root[:6]), SecretKeyKey: hex.EncodeToString(root[6:])},
			}, metav1.CreateOptions{})
			return err
		}},
		{"PersistentVolumeClaim", func() error {
			_, err := client.CoreV1().PersistentVolumeClaims(ObjectStoreNamespace).Create(ctx, &corev1.PersistentVolumeClaim{
				ObjectMeta: metav1.ObjectMeta{Name: ObjectStoreName, Labels: labels},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")}},
				},
			}, metav1.CreateOptions{})
			return err
		}},
		{"Deployment", func() error {
			_, err := client.AppsV1().Deployments(ObjectStoreNamespace).Create(ctx, objectStoreDeployment(image, labels), metav1.CreateOptions{})
			return err
		}},
		{"Service", func() error {
			_, err := client.CoreV1().Services(ObjectStoreNamespace).Create(ctx, &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: ObjectStoreName, Labels: labels},
				Spec: corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{
					Name: "s3", Port: ObjectStorePort, TargetPort: intstr.FromString("s3")}}},
			}, metav1.CreateOptions{})
			return err
		}},
	}
	for _, o := range objects {
		if err := o.create(); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("object store %s: %w", o.kind, err)
		}
	}
	return nil
}

func objectStoreDeployment(image string, labels map[string]string) *appsv1.Deployment {
	secretKey := func(key string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: ObjectStoreName}, Key: key}}
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: ObjectStoreName, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			// One gateway owns the volume at a time.
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{
						Name: "versitygw", Image: image, ImagePullPolicy: corev1.PullNever,
						Args: []string{"--port", ":" + strconv.Itoa(ObjectStorePort), "--region", ObjectStoreRegion, "posix", "/data"},
						Env: []corev1.EnvVar{
							{Name: "ROOT_ACCESS_KEY_ID", ValueFrom: secretKey(AccessKeyKey)},
							{Name: "ROOT_SECRET_ACCESS_KEY", ValueFrom: secretKey(SecretKeyKey)},
						},
						Ports:          []corev1.ContainerPort{{Name: "s3", ContainerPort: ObjectStorePort}},
						ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("s3")}}, PeriodSeconds: 1},
						VolumeMounts:   []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
						Resources: corev1.ResourceRequirements{
							Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("32Mi")},
							Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
						},
					}},
					Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
						PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: ObjectStoreName}}}},
				},
			},
		},
	}
}

// objectStoreOf reads where the object store answers and its root credentials.
func objectStoreOf(ctx context.Context, client kubernetes.Interface) (ObjectStore, error) {
	svc, err := client.CoreV1().Services(ObjectStoreNamespace).Get(ctx, ObjectStoreName, metav1.GetOptions{})
	if err != nil {
		return ObjectStore{}, fmt.Errorf("object store Service: %w", err)
	}
	secret, err := client.CoreV1().Secrets(ObjectStoreNamespace).Get(ctx, ObjectStoreName, metav1.GetOptions{})
	if err != nil {
		return ObjectStore{}, fmt.Errorf("object store credentials: %w", err)
	}
	port := strconv.Itoa(ObjectStorePort)
	return ObjectStore{
		Endpoint:     net.JoinHostPort(fmt.Sprintf("%s.%s.svc", ObjectStoreName, ObjectStoreNamespace), port),
		HostEndpoint: net.JoinHostPort(svc.Spec.ClusterIP, port),
		Region:       ObjectStoreRegion, Bucket: ObjectStoreBucket,
		AccessKey: string(secret.Data[AccessKeyKey]), SecretKey: string(secret.Data[SecretKeyKey]),
	}, nil
}
