package postrender

// The contract between charts/tenant-master and the post-renderer. The chart's _helpers.tpl
// writes these keys, so the two must change together; a chart test is to compare them.
//
// The chart marks the Pod template of each control-plane Deployment or StatefulSet:
//
//	metadata:
//	  labels:
//	    taowa.io/component: kube-apiserver      # or kube-controller-manager, kube-scheduler, etcd
//	  annotations:
//	    taowa.io/container: kube-apiserver      # the container whose command line to rewrite
//	    taowa.io/kubernetes-version: 1.36.3     # the target version; every workload that states it agrees
//	    taowa.io/extra-args: '{"v": "4", "feature-gates": "A=true"}'   # the user's flags, optional
//	    taowa.io/set-image-tag: "true"          # optional: tag the container's image for the version
//
// The container's args (or, without args, its command after the binary) hold the chart's
// default flags as --name=value, feature gates as --feature-gates=A=true,B=false.
const (
	// LabelComponent names the component a Pod template runs: one of versions.Components().
	LabelComponent = "taowa.io/component"
	// AnnotationContainer names the container whose command line the post-renderer rewrites.
	AnnotationContainer = "taowa.io/container"
	// AnnotationKubernetesVersion is the Kubernetes version (X.Y.Z) the control plane runs.
	AnnotationKubernetesVersion = "taowa.io/kubernetes-version"
	// AnnotationExtraArgs holds the user's flags as a JSON object from flag name (without
	// dashes) to value; the key "feature-gates" holds gates as "A=true,B=false". They override
	// the chart's defaults, and one the version does not know fails the render.
	AnnotationExtraArgs = "taowa.io/extra-args"
	// AnnotationSetImageTag, when "true", makes the post-renderer set the tag of the rewritten
	// container's image to the component's registry.k8s.io tag for the version
	// (versions.Profile.ImageTag), so a chart need not know which etcd a version runs.
	AnnotationSetImageTag = "taowa.io/set-image-tag"
	// AnnotationEtcdVersion replaces AnnotationKubernetesVersion on etcd's Pod template in the
	// output: etcd's Pods then change only when its own release or flags do, so a Kubernetes
	// upgrade that keeps etcd does not restart it.
	AnnotationEtcdVersion = "taowa.io/etcd-version"
)
