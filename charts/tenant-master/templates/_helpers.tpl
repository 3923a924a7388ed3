{{/*
Names. Every object of a tenant is named "<release>-<part>"; the PKI hook's Secrets use the same
prefix (hooks/pki/secrets.go). 33 characters leave room for the longest suffix in a DNS label.
*/}}
{{- define "tenant-master.fullname" -}}
{{- if gt (len .Release.Name) 33 -}}
{{- fail (printf "release name %q is %d characters long; tenant-master allows at most 33, because object names append up to 30" .Release.Name (len .Release.Name)) -}}
{{- end -}}
{{- .Release.Name -}}
{{- end -}}

{{- define "tenant-master.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Values.kubernetesVersion | quote }}
{{- end -}}

{{/* Selector labels of one component; they never change across chart versions (selectors are immutable). */}}
{{- define "tenant-master.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/*
The contract with the taowa post-renderer (keys in postrender/contract.go): a control-plane Pod
template names its component, the container to rewrite, the target version, and the user's extra
flags as JSON. The container's args hold the defaults for the chart's appVersion; the
post-renderer fits them to the target version and merges the extra flags over them.
*/}}
{{- define "tenant-master.componentLabel" -}}
taowa.io/component: {{ .component }}
{{- end -}}
{{- define "tenant-master.componentAnnotations" -}}
taowa.io/container: {{ .container }}
taowa.io/kubernetes-version: {{ .root.Values.kubernetesVersion | quote }}
taowa.io/extra-args: {{ .extraArgs | default dict | toJson | quote }}
{{- end -}}

{{- define "tenant-master.image" -}}
{{ .root.Values.imageRegistry }}/{{ .name }}:{{ .tag }}
{{- end -}}

{{- define "tenant-master.hookImage" -}}
{{ .Values.hook.image.repository }}:{{ .Values.hook.image.tag | default .Chart.Version }}
{{- end -}}

{{/* Restricted Pod Security: non-root, no privilege escalation, no capabilities, RuntimeDefault seccomp. */}}
{{- define "tenant-master.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}
{{- define "tenant-master.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end -}}

{{/* Spread replicas of a component over nodes when the meta cluster has several. */}}
{{- define "tenant-master.antiAffinity" -}}
podAntiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "tenant-master.selectorLabels" . | nindent 12 }}
{{- end -}}

{{- define "tenant-master.apiserverURL" -}}
https://{{ include "tenant-master.fullname" . }}-apiserver.{{ .Release.Namespace }}.svc.{{ .Values.metaClusterDomain }}:{{ .Values.apiserver.service.port }}
{{- end -}}

{{- define "tenant-master.etcdServers" -}}
{{- $full := include "tenant-master.fullname" . -}}
{{- $urls := list -}}
{{- if eq (int .Values.etcd.replicas) 1 -}}
{{- /* One member: the client Service, whose address outlives the member's Pods. A member's own
name resolves to its Pod's address, which cluster DNS may still answer with the previous Pod's for
up to 30 s after a restart or a wake. */ -}}
{{- $urls = append $urls (printf "https://%s-etcd-client.%s.svc:2379" $full .Release.Namespace) -}}
{{- else -}}
{{- /* Several: each member by name, so that the client balances across them and skips one that
does not answer. */ -}}
{{- range $i := until (int .Values.etcd.replicas) -}}
{{- $urls = append $urls (printf "https://%s-etcd-%d.%s-etcd.%s.svc:2379" $full $i $full $.Release.Namespace) -}}
{{- end -}}
{{- end -}}
{{- join "," $urls -}}
{{- end -}}

{{/*
A leader-elected control-plane component (kube-controller-manager, kube-scheduler): a Deployment
that talks to the tenant apiserver with its own kubeconfig Secret, plus its PDB.
Arguments: root, component, short (Secret name part), values, args, port, pki (extra Secret items).
*/}}
{{- define "tenant-master.controller" -}}
{{- $full := include "tenant-master.fullname" .root -}}
{{- $sel := dict "root" .root "component" .component -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $full }}-{{ .short }}
  labels:
    {{- include "tenant-master.labels" .root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
spec:
  replicas: {{ if .root.Values.hibernated }}0{{ else }}{{ .values.replicas }}{{ end }}
  selector:
    matchLabels:
      {{- include "tenant-master.selectorLabels" $sel | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "tenant-master.selectorLabels" $sel | nindent 8 }}
        {{- include "tenant-master.componentLabel" $sel | nindent 8 }}
      annotations:
        {{- include "tenant-master.componentAnnotations" (dict "root" .root "container" .component "extraArgs" .values.extraArgs) | nindent 8 }}
    spec:
      serviceAccountName: {{ $full }}-control-plane
      automountServiceAccountToken: false
      enableServiceLinks: false
      {{- with .root.Values.imagePullSecrets }}
      imagePullSecrets: {{ toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- include "tenant-master.podSecurityContext" . | nindent 8 }}
      affinity:
        {{- include "tenant-master.antiAffinity" $sel | nindent 8 }}
      initContainers:
        {{- include "tenant-master.waitOrder" (dict "root" .root "component" .component) | nindent 8 }}
      containers:
        - name: {{ .component }}
          image: {{ include "tenant-master.image" (dict "root" .root "name" .component "tag" (printf "v%s" .root.Values.kubernetesVersion)) }}
          imagePullPolicy: {{ .root.Values.imagePullPolicy }}
          command: [{{ .component }}]
          args:
            {{- range .args }}
            - {{ . }}
            {{- end }}
            {{- with include "tenant-master.profileArgs" (dict "root" .root "component" .valuesKey) }}
            {{- . | nindent 12 }}
            {{- end }}
          terminationMessagePolicy: FallbackToLogsOnError
          ports:
            - {name: https, containerPort: {{ .port }}}
          readinessProbe:
            httpGet: {scheme: HTTPS, path: /healthz, port: https}
            periodSeconds: 2
          livenessProbe:
            httpGet: {scheme: HTTPS, path: /healthz, port: https}
            periodSeconds: 10
            failureThreshold: 8
          resources:
            {{- include "tenant-master.resources" (dict "root" .root "component" .valuesKey) | nindent 12 }}
          securityContext:
            {{- include "tenant-master.containerSecurityContext" . | nindent 12 }}
          volumeMounts:
            - {name: kubeconfig, mountPath: /etc/kubernetes/kubeconfig, readOnly: true}
            - {name: tmp, mountPath: /tmp}
            {{- if .pki }}
            - {name: pki, mountPath: /etc/kubernetes/pki, readOnly: true}
            {{- end }}
        {{- if .approver }}
        # Approves the kubelets' serving certificate requests that name only their own Node's
        # addresses (taowa-hook approve-kubelet-serving), with the controller-manager's identity:
        # the controller-manager signs them but never approves them.
        - name: kubelet-serving-approver
          image: {{ include "tenant-master.hookImage" .root }}
          imagePullPolicy: {{ .root.Values.imagePullPolicy }}
          args: [approve-kubelet-serving, --kubeconfig=/etc/kubernetes/kubeconfig/kubeconfig]
          resources:
            requests: {cpu: 5m, memory: 16Mi}
            limits: {memory: 64Mi}
          securityContext:
            {{- include "tenant-master.containerSecurityContext" . | nindent 12 }}
          volumeMounts:
            - {name: kubeconfig, mountPath: /etc/kubernetes/kubeconfig, readOnly: true}
        {{- end }}
      volumes:
        {{- include "tenant-master.metaTokenVolume" .root | nindent 8 }}
        - name: tmp
          emptyDir: {}
        - name: kubeconfig
          secret: {secretName: {{ $full }}-{{ .short }}-kubeconfig, defaultMode: 0440}
        {{- if .pki }}
        - name: pki
          projected:
            defaultMode: 0440
            sources:
              {{- range .pki }}
              - secret:
                  name: {{ .secret }}
                  items: {{ toJson .items }}
              {{- end }}
        {{- end }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ $full }}-{{ .short }}
  labels:
    {{- include "tenant-master.labels" .root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
spec:
  maxUnavailable: 1
  selector:
    matchLabels:
      {{- include "tenant-master.selectorLabels" $sel | nindent 6 }}
{{- end -}}

{{/*
Init container of every control-plane Pod: `taowa-hook wait-order` holds the Pod back until
starting it keeps the version-skew policy (controller-manager and scheduler never newer than an
apiserver), so an upgrade rolls the apiservers first and a rollback rolls them last.
It alone mounts a meta cluster token, of a ServiceAccount that may only list this namespace's Pods.
Arguments: root, component.
*/}}
{{- define "tenant-master.waitOrder" -}}
- name: wait-order
  image: {{ include "tenant-master.hookImage" .root }}
  imagePullPolicy: {{ .root.Values.imagePullPolicy }}
  args:
    - wait-order
    - --release={{ include "tenant-master.fullname" .root }}
    - --namespace={{ .root.Release.Namespace }}
    - --instance={{ .root.Release.Name }}
    - --component={{ .component }}
    - --kubernetes-version={{ .root.Values.kubernetesVersion }}
    {{- if eq .component "kube-apiserver" }}
    - --etcd-servers={{ include "tenant-master.etcdServers" .root }}
    {{- end }}
  resources:
    {{- toYaml .root.Values.hook.resources | nindent 4 }}
  securityContext:
    {{- include "tenant-master.containerSecurityContext" .root | nindent 4 }}
  volumeMounts:
    - {name: meta-token, mountPath: /var/run/secrets/kubernetes.io/serviceaccount, readOnly: true}
{{- end -}}

{{- define "tenant-master.metaTokenVolume" -}}
- name: meta-token
  projected:
    sources:
      - serviceAccountToken: {path: token, expirationSeconds: 3600}
      - configMap: {name: kube-root-ca.crt, items: [{key: ca.crt, path: ca.crt}]}
      - downwardAPI: {items: [{path: namespace, fieldRef: {fieldPath: metadata.namespace}}]}
{{- end -}}

{{/* The Secrets taowa-hook pki writes (hooks/pki/secrets.go), as a JSON list of full names. */}}
{{- define "tenant-master.pkiSecretNames" -}}
{{- $full := include "tenant-master.fullname" . -}}
{{- $names := list -}}
{{- range list "ca" "front-proxy-ca" "etcd-ca" "apiserver" "apiserver-kubelet-client" "apiserver-etcd-client" "front-proxy-client" "etcd-server" "etcd-peer" "metrics-client" "sa" "encryption" "admin-kubeconfig" "super-admin-kubeconfig" "controller-manager-kubeconfig" "scheduler-kubeconfig" -}}
{{- $names = append $names (printf "%s-%s" $full .) -}}
{{- end -}}
{{- toJson $names -}}
{{- end -}}

{{/* Arguments of taowa-hook pki, for the hook and the rotation CronJob. */}}
{{/* The ready step's flags for what it applies inside the tenant: its add-ons (hooks/addons) and, with an ENI, the server that kube-public/cluster-info publishes. */}}
{{- define "tenant-master.readyArgs" -}}
- --addons
- --kube-proxy={{ .Values.addons.kubeProxy.enabled }}
- --coredns-replicas={{ ternary .Values.addons.coreDNS.replicas 0 .Values.addons.coreDNS.enabled }}
- --image-registry={{ .Values.imageRegistry }}
- --pod-cidr={{ .Values.podCIDR }}
- --service-cidr={{ .Values.serviceCIDR }}
- --cluster-domain={{ .Values.clusterDomain }}
- --kubelet-server-tls-bootstrap={{ .Values.apiserver.verifyKubelets }}
{{- if .Values.network.eni.enabled }}
# Nodes bootstrap at the apiservers' ENI addresses: the meta cluster's Service is out of their reach.
- --cluster-info-advertised
{{- end }}
{{- end -}}

{{- define "tenant-master.pkiArgs" -}}
- pki
- --release={{ include "tenant-master.fullname" . }}
- --namespace={{ .Release.Namespace }}
- --meta-dns-domain={{ .Values.metaClusterDomain }}
- --tenant-service-cidr={{ .Values.serviceCIDR }}
- --tenant-dns-domain={{ .Values.clusterDomain }}
- --external-addresses={{ join "," .Values.apiserver.externalAddresses }}
- --apiserver-port={{ .Values.apiserver.service.port }}
- --encryption-at-rest={{ .Values.encryptionAtRest.enabled }}
- --instance={{ .Release.Name }}
{{- if .Values.network.eni.enabled }}
# Nodes join at the apiservers' ENI addresses, known once they run.
- --tenant-advertised-addresses
{{- end }}
# Certificates name three members whatever etcd.replicas is.
- --etcd-replicas=3
- --ca-validity={{ .Values.certificates.caValidity }}
- --cert-validity={{ .Values.certificates.validity }}
- --renew-before={{ .Values.certificates.renewBefore }}
{{- with .Values.certificates.caRotation }}
{{- if .id }}
- --ca-rotation-id={{ .id }}
- --ca-rotation-phase={{ .phase }}
{{- end }}
{{- end }}
{{- with .Values.etcd.snapshots.objectStore }}
{{- if .endpoint }}
# The roots (CAs, service-account key, encryption configuration) to the object store, encrypted,
# once per content: what `taowa restore` needs to bring the tenant back with its identity.
- --s3-endpoint={{ .endpoint }}
- --s3-bucket={{ .bucket }}
- --s3-prefix={{ .prefix }}
- --s3-region={{ .region }}
- --s3-insecure={{ .insecure }}
- --s3-tenant={{ $.Release.Namespace }}/{{ $.Release.Name }}
- --s3-credentials-secret={{ .credentialsSecret }}
{{- with .encryptionKeySecret }}
- --s3-encryption-key-secret={{ . }}
{{- end }}
{{- end }}
{{- end }}
- --restart
{{- end -}}

{{/* RBAC to renew certificates: update this tenant's Secrets, read its apiserver Service (for the
ClusterIP), annotate its apiserver Pods and restart the components that must reload a renewed
certificate. */}}
{{- define "tenant-master.pkiRenewRules" -}}
{{- $full := include "tenant-master.fullname" . -}}
{{- with .Values.etcd.snapshots.objectStore }}
{{- if .endpoint }}
# The PKI's roots go to the object store, encrypted (taowa-hook pki --s3-*): its Secrets.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
  resourceNames: [{{ .credentialsSecret }}{{ with .encryptionKeySecret }}, {{ . }}{{ end }}]
{{- end }}
{{- end }}
- apiGroups: [""]
  resources: [secrets]
  verbs: [update]
  resourceNames: {{ include "tenant-master.pkiSecretNames" . }}
- apiGroups: [""]
  resources: [services]
  verbs: [get]
  resourceNames: [{{ $full }}-apiserver]
# A re-issued serving certificate: annotate the apiserver Pods so that the kubelet syncs it now.
- apiGroups: [""]
  resources: [pods]
  verbs: [list, patch]
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, patch]
  resourceNames: [{{ $full }}-apiserver, {{ $full }}-controller-manager, {{ $full }}-scheduler]
# A CA rotation also restarts etcd, which loads its trusted CAs only at start.
- apiGroups: [apps]
  resources: [statefulsets]
  verbs: [get, patch]
  resourceNames: [{{ $full }}-etcd]
{{- end -}}

{{/* The snapshot volume's access modes: etcd.snapshots.storage.accessModes, or derived from the members. */}}
{{- define "tenant-master.snapshotVolumeAccessModes" -}}
{{- with .Values.etcd.snapshots.storage.accessModes -}}
{{ join "," . }}
{{- else -}}
{{ if gt (int .Values.etcd.replicas) 1 }}ReadWriteMany{{ else }}ReadWriteOnce{{ end }}
{{- end -}}
{{- end -}}

{{/* Flags of taowa-hook that describe the snapshot volume (snapshot-volume and ready). */}}
{{- define "tenant-master.snapshotVolumeArgs" -}}
- --snapshot-volume-size={{ .Values.etcd.snapshots.storage.size }}
{{- with .Values.etcd.snapshots.storage.storageClassName }}
- --snapshot-volume-storage-class={{ . }}
{{- end }}
- --snapshot-volume-access-modes={{ include "tenant-master.snapshotVolumeAccessModes" . }}
{{- end -}}


{{/*
The apiserver's audit policy: apiserver.audit.rules, or the chart's. The chart's logs every write
with its request body, and reads at Metadata, except where a body would carry credentials
(Secrets, ConfigMaps, tokens, token and certificate requests: Metadata only), and leaves out what
runs every second and says nothing (health probes, leader-election leases, reads of events).
*/}}
{{- define "tenant-master.auditPolicy" -}}
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
{{- if .Values.apiserver.audit.rules }}
{{ toYaml .Values.apiserver.audit.rules }}
{{- else }}
  - level: None
    nonResourceURLs: [/healthz*, /livez*, /readyz*, /version, /metrics]
  - level: None
    verbs: [get, update]
    resources: [{group: coordination.k8s.io, resources: [leases]}]
    namespaces: [kube-system, kube-node-lease]
  - level: None
    verbs: [get, list, watch]
    resources: [{group: "", resources: [events]}, {group: events.k8s.io, resources: [events]}]
  - level: Metadata
    resources:
      - {group: "", resources: [secrets, configmaps, serviceaccounts/token]}
      - {group: authentication.k8s.io, resources: [tokenreviews]}
      - {group: certificates.k8s.io, resources: [certificatesigningrequests]}
  - level: Request
    verbs: [create, update, patch, delete, deletecollection]
  - level: Metadata
{{- end }}
{{- end -}}

{{/*
Requests, limits and flags per profile (values: profile). small comes from measured idle use of a
1.37 tenant on the project's node (working set: kube-apiserver about 190 MiB, the
controller-manager 55, etcd 30, the scheduler 20; CPU: etcd and the apiserver 17 millicores each,
the controller-manager 13, the scheduler 5), requests at that use. Its flags cut what an idle
tenant spends: leases renewed every 15 s instead of 2 s, and no watch cache in the apiserver (its
timers were half of its idle CPU; lists and watches go to etcd, fine for a small tenant). medium
was the chart's default before profiles; large doubles to quadruples medium for busy tenants. The
chart README has the numbers.
*/}}
{{- define "tenant-master.profiles" -}}
small:
  etcd: {requests: {cpu: 20m, memory: 48Mi}, limits: {memory: 512Mi}}
  apiserver: {requests: {cpu: 20m, memory: 224Mi}, limits: {memory: 1Gi}, args: [--watch-cache=false]}
  controllerManager: {requests: {cpu: 15m, memory: 64Mi}, limits: {memory: 256Mi}, args: [--leader-elect-lease-duration=60s, --leader-elect-renew-deadline=40s, --leader-elect-retry-period=15s]}
  scheduler: {requests: {cpu: 5m, memory: 24Mi}, limits: {memory: 128Mi}, args: [--leader-elect-lease-duration=60s, --leader-elect-renew-deadline=40s, --leader-elect-retry-period=15s]}
medium:
  etcd: {requests: {cpu: 100m, memory: 128Mi}, limits: {memory: 1Gi}}
  apiserver: {requests: {cpu: 250m, memory: 384Mi}, limits: {memory: 2Gi}}
  controllerManager: {requests: {cpu: 100m, memory: 128Mi}, limits: {memory: 512Mi}}
  scheduler: {requests: {cpu: 50m, memory: 64Mi}, limits: {memory: 256Mi}}
large:
  etcd: {requests: {cpu: 500m, memory: 1Gi}, limits: {memory: 4Gi}}
  apiserver: {requests: {cpu: "1", memory: 2Gi}, limits: {memory: 8Gi}}
  controllerManager: {requests: {cpu: 250m, memory: 512Mi}, limits: {memory: 2Gi}}
  scheduler: {requests: {cpu: 100m, memory: 256Mi}, limits: {memory: 1Gi}}
{{- end -}}

{{/* The resources of a component (etcd, apiserver, controllerManager, scheduler): its own, or its profile's. */}}
{{- define "tenant-master.resources" -}}
{{- $own := index .root.Values .component "resources" -}}
{{- if $own -}}
{{ toYaml $own }}
{{- else -}}
{{ toYaml (omit (index (include "tenant-master.profiles" . | fromYaml) .root.Values.profile .component) "args") }}
{{- end -}}
{{- end -}}

{{/* The flags a component's profile sets (etcd, apiserver, controllerManager, scheduler); its extraArgs override them. */}}
{{- define "tenant-master.profileArgs" -}}
{{- with (index (include "tenant-master.profiles" . | fromYaml) .root.Values.profile .component).args -}}
{{ toYaml . }}
{{- end -}}
{{- end -}}
