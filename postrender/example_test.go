package postrender_test

import (
	"fmt"
	"os"
	"strings"

	"github.com/taowa/taowa/postrender"
)

// An etcd StatefulSet written for etcd 3.6, rendered for Kubernetes 1.33, whose etcd is 3.5:
// the corruption-check gate becomes 3.5's flag, the table adds the watch progress interval in
// 3.5's form, and the user's flag overrides the chart's.
func ExampleRender() {
	manifests := `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: etcd}
spec:
  template:
    metadata:
      labels: {taowa.io/component: etcd}
      annotations:
        taowa.io/container: etcd
        taowa.io/kubernetes-version: 1.33.13
        taowa.io/extra-args: '{"snapshot-count": "5000"}'
    spec:
      containers:
      - name: etcd
        command: [etcd, --snapshot-count=10000, --feature-gates=InitialCorruptCheck=true]
`
	if err := postrender.Render(strings.NewReader(manifests), os.Stdout, postrender.Options{}); err != nil {
		fmt.Println(err)
	}
	// Output:
	// apiVersion: apps/v1
	// kind: StatefulSet
	// metadata:
	//   annotations:
	//     taowa.io/kubernetes-version: 1.33.13
	//   name: etcd
	// spec:
	//   template:
	//     metadata:
	//       annotations:
	//         taowa.io/container: etcd
	//         taowa.io/etcd-version: 3.5.24
	//         taowa.io/extra-args: '{"snapshot-count": "5000"}'
	//       labels:
	//         taowa.io/component: etcd
	//     spec:
	//       containers:
	//       - command:
	//         - etcd
	//         - --experimental-initial-corrupt-check=true
	//         - --experimental-watch-progress-notify-interval=5s
	//         - --snapshot-count=5000
	//         name: etcd
}
