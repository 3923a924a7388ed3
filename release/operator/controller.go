package operator

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/taowa/taowa/release/api/v1alpha1"
)

// The labels the chart puts on every Pod of a tenant master: the chart, and the release (the
// Cluster's name).
const (
	tenantPodSelector   = "app.kubernetes.io/name=tenant-master"
	tenantInstanceLabel = "app.kubernetes.io/instance"
)

// Controller feeds the Reconciler from an informer on Clusters through a rate-limited queue:
// one Cluster is reconciled by one worker at a time, different Clusters in parallel.
type Controller struct {
	Reconciler *Reconciler
	Dynamic    dynamic.Interface
	// Namespace limits the Clusters watched; "" watches every namespace.
	Namespace string
	Workers   int
	// Resync brings every Cluster back to the queue this often, to refresh its status.
	Resync time.Duration
	// ShutdownGrace is how long Run lets the reconciles in progress (Helm operations of minutes)
	// finish once it is stopped, before it cancels them.
	ShutdownGrace time.Duration
	Metrics       *Metrics
	Log           *slog.Logger
}

// Run reconciles Clusters until stop ends (SIGTERM), then starts no new reconcile and waits for
// those in progress for ShutdownGrace at most before it cancels them and returns an error. The
// end of ctx (a lost lease: another operator may lead already) cancels them at once. A cancelled
// Helm operation is failed and rolled back by Helm, or, if the process ends first, left pending
// for the next leader to recover. Run takes over the operations left pending before it started
// (Reconciler.Started).
func (c *Controller) Run(ctx, stop context.Context) error {
	c.Reconciler.Started = time.Now()
	factory := dynamicinformer.NewFilteredDynamicSharedInformerFactory(c.Dynamic, c.Resync, c.Namespace, nil)
	defer factory.Shutdown() // after cancelWork, which stops the informer
	podFactory := informers.NewSharedInformerFactoryWithOptions(c.Reconciler.Kube, 0, informers.WithNamespace(c.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = tenantPodSelector }))
	defer podFactory.Shutdown()
	// The reconciles' context: stop does not end it, so that a Helm operation is not cut short
	// by the SIGTERM that stops the operator.
	work, cancelWork := context.WithCancel(ctx)
	defer cancelWork()
	// Ends with stop or ctx: no new work.
	stopping, cancelStopping := context.WithCancel(ctx)
	defer cancelStopping()
	defer context.AfterFunc(stop, cancelStopping)()
	informer := factory.ForResource(v1alpha1.Resource)
	queue := workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[cache.ObjectName](),
		workqueue.TypedRateLimitingQueueConfig[cache.ObjectName]{Name: "clusters"})
	defer queue.ShutDown()

	enqueue := func(obj any) {
		if name, err := cache.DeletionHandlingObjectToName(obj); err == nil {
			queue.Add(name)
		}
	}
	_, err := informer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue,
		UpdateFunc: func(oldObj, newObj any) {
			// The operator's own status writes change neither generation nor deletion: skip
			// them. A resync (same resourceVersion) refreshes the status.
			o, n := oldObj.(*unstructured.Unstructured), newObj.(*unstructured.Unstructured)
			if o.GetResourceVersion() == n.GetResourceVersion() || o.GetGeneration() != n.GetGeneration() ||
				n.GetDeletionTimestamp() != nil || len(o.GetFinalizers()) != len(n.GetFinalizers()) {
				enqueue(newObj)
			}
		},
	})
	if err != nil {
		return fmt.Errorf("watch Clusters: %w", err)
	}
	// A change of a tenant's Pod (a crash, a restart, a Pod that cannot be scheduled) brings its
	// Cluster back at once, so that its health conditions follow in seconds, not at the next
	// resync. A Pod's release is its Cluster; Pods of releases no Cluster owns are looked up and
	// skipped.
	enqueuePod := func(obj any) {
		if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tombstone.Obj
		}
		if pod, ok := obj.(*corev1.Pod); ok && pod.Labels[tenantInstanceLabel] != "" {
			queue.Add(cache.ObjectName{Namespace: pod.Namespace, Name: pod.Labels[tenantInstanceLabel]})
		}
	}
	podInformer := podFactory.Core().V1().Pods().Informer()
	if _, err := podInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueuePod, UpdateFunc: func(_, newObj any) { enqueuePod(newObj) }, DeleteFunc: enqueuePod,
	}); err != nil {
		return fmt.Errorf("watch tenant Pods: %w", err)
	}
	factory.Start(work.Done())
	podFactory.Start(work.Done())
	if !cache.WaitForCacheSync(stopping.Done(), informer.Informer().HasSynced, podInformer.HasSynced) {
		if ctx.Err() != nil {
			return fmt.Errorf("watch Clusters: %w", context.Cause(ctx))
		}
		return nil // stopped before any work
	}
	c.Log.Info("watching Clusters", "namespace", c.Namespace, "workers", c.Workers)

	var wg sync.WaitGroup
	for range max(c.Workers, 1) {
		wg.Go(func() {
			for c.next(work, stop, queue) {
			}
		})
	}
	drained := make(chan struct{})
	go func() {
		<-stopping.Done()
		// Wakes the idle workers; a worker between two reconciles sees stop and takes no more.
		queue.ShutDown()
		wg.Wait()
		close(drained)
	}()
	select {
	case <-ctx.Done():
		return fmt.Errorf("reconciles cancelled: %w", context.Cause(ctx))
	case <-stop.Done():
	}
	c.Log.Info("stopping: no new reconcile; waiting for those in progress", "grace", c.ShutdownGrace)
	grace := time.NewTimer(c.ShutdownGrace)
	defer grace.Stop()
	select {
	case <-drained:
		c.Log.Info("stopped: no reconcile in progress")
		return nil
	case <-ctx.Done():
		return fmt.Errorf("reconciles cancelled while stopping: %w", context.Cause(ctx))
	case <-grace.C:
		return fmt.Errorf("reconciles still in progress after the shutdown grace of %s: cancelled", c.ShutdownGrace)
	}
}

// next reconciles the next Cluster of the queue with ctx; false when the queue is shut down or
// stop has ended.
func (c *Controller) next(ctx, stop context.Context, queue workqueue.TypedRateLimitingInterface[cache.ObjectName]) bool {
	name, shutdown := queue.Get()
	if shutdown {
		return false
	}
	defer queue.Done(name)
	if stop.Err() != nil {
		return false
	}
	// The informer only says which Cluster to look at: the object is read from the apiserver,
	// because the cache may not have the status the last step wrote yet, and a step started from
	// a stale status would write it back.
	obj, err := c.Reconciler.Clusters.Namespace(name.Namespace).Get(ctx, name.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		queue.Forget(name)
		return true
	}
	cluster, err := fromUnstructured(obj, err)
	if err != nil {
		c.Log.Error("read Cluster", "cluster", name, "error", err)
		queue.AddRateLimited(name)
		return true
	}
	start := time.Now()
	result, err := c.Reconciler.Reconcile(ctx, cluster)
	c.Metrics.observe(start, err)
	switch {
	case err != nil:
		c.Log.Error("reconcile", "cluster", name, "error", err)
		queue.AddRateLimited(name)
	case result.Requeue:
		queue.Forget(name)
		queue.Add(name)
	case result.RequeueAfter > 0:
		queue.Forget(name)
		queue.AddAfter(name, result.RequeueAfter)
	default:
		queue.Forget(name)
	}
	return true
}

// fromUnstructured returns the informer's object as a Cluster of the caller's own.
func fromUnstructured(obj runtime.Object, err error) (*v1alpha1.Cluster, error) {
	if err != nil {
		return nil, err
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return nil, fmt.Errorf("unexpected %T in the Cluster informer", obj)
	}
	var cluster v1alpha1.Cluster
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &cluster); err != nil {
		return nil, fmt.Errorf("Cluster %s/%s: %w", u.GetNamespace(), u.GetName(), err)
	}
	return &cluster, nil
}
