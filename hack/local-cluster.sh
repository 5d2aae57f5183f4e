#!/usr/bin/env bash
# A real single-node Kubernetes cluster for the e2e suite, on a machine
# without Docker: etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, containerd v2 with runc, a kubelet, kube-proxy, CoreDNS,
# and CNI from Debian's packages. Components are built from the Go module
# proxy once per version, cached outside the checkout (~/.cache/tributary).
# ../shared/notes/local-cluster.md records what these machines need.
#
#   hack/local-cluster.sh build     build (once) every component
#   hack/local-cluster.sh up        build, then start the cluster; import
#                                   the image tarballs bin/*-image.tar; the
#                                   kubeconfig is bin/cluster/kubeconfig
#   hack/local-cluster.sh load TAR...  import more image tarballs (a
#                                   re-imported tag needs its pods replaced)
#   hack/local-cluster.sh down      stop it and remove its state
#
# It runs as root: containerd, the kubelet and kube-proxy need it.
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/lib/kubernetes.sh

CONTAINERD_VERSION=v2.4.2
COREDNS_VERSION=v1.15.0
node_dir="$cache/kubernetes-node-$K8S_VERSION"
containerd_dir="$cache/containerd-$CONTAINERD_VERSION"
coredns_dir="$cache/coredns-$COREDNS_VERSION"
node_cmds=(kubelet kube-controller-manager kube-scheduler kube-proxy kubectl)

build() {
  local missing=()
  mkdir -p "$node_dir" "$containerd_dir" "$coredns_dir"
  for cmd in "${node_cmds[@]}"; do
    [ -x "$node_dir/$cmd" ] || missing+=("$cmd")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "building ${missing[*]} $K8S_VERSION into $node_dir (several minutes, once)" >&2
    build_kubernetes "$node_dir" "${missing[@]}"
  fi
  for cmd in containerd containerd-shim-runc-v2 ctr; do
    if [ ! -x "$containerd_dir/$cmd" ]; then
      echo "building $cmd $CONTAINERD_VERSION into $containerd_dir" >&2
      GOBIN="$containerd_dir" GOFLAGS=-mod=mod CGO_ENABLED=0 go install -tags no_btrfs \
        "github.com/containerd/containerd/v2/cmd/$cmd@$CONTAINERD_VERSION"
    fi
  done
  if [ ! -x "$coredns_dir/coredns" ]; then
    echo "building coredns $COREDNS_VERSION into $coredns_dir" >&2
    GOBIN="$coredns_dir" GOFLAGS=-mod=mod CGO_ENABLED=0 go install "github.com/coredns/coredns@$COREDNS_VERSION"
  fi
  mkdir -p bin/cluster
  for cmd in "${node_cmds[@]}"; do ln -sf "$node_dir/$cmd" "bin/cluster/$cmd"; done
  for cmd in containerd containerd-shim-runc-v2 ctr; do ln -sf "$containerd_dir/$cmd" "bin/cluster/$cmd"; done
  ln -sf "$coredns_dir/coredns" bin/cluster/coredns
}

state=${TRIBUTARY_CLUSTER_DIR:-/var/lib/tributary-cluster}
pki="$state/pki"
logs="$state/logs"
sock="$state/containerd/containerd.sock"
node_ip=$(ip -4 route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p')
node_ip=${node_ip:-$(hostname -I | awk '{print $1}')}
service_cidr=10.96.0.0/16
api_service_ip=10.96.0.1
dns_ip=10.96.0.10
pod_cidr=10.88.0.0/16
pause_image=registry.local/pause:1
kubeconfig="$PWD/bin/cluster/kubeconfig"

# start NAME CMD... runs a component in the background, logging to
# $logs/NAME.log, its pid in $state/NAME.pid.
start() {
  local name=$1; shift
  "$@" >"$logs/$name.log" 2>&1 &
  echo $! >"$state/$name.pid"
}

# wait_for WHAT CMD... retries CMD for up to two minutes.
wait_for() {
  local what=$1; shift
  for _ in $(seq 240); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  echo "local-cluster: $what did not come up; logs in $logs" >&2
  return 1
}

certs() {
  mkdir -p "$pki"
  [ -f "$pki/ca.crt" ] && return
  (
    cd "$pki"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 365 -subj "/CN=tributary-local-ca" 2>/dev/null
    cat >apiserver.ext <<EXT
subjectAltName=DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,DNS:$(hostname),IP:127.0.0.1,IP:$node_ip,IP:$api_service_ip
extendedKeyUsage=serverAuth
EXT
    openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr -subj "/CN=kube-apiserver" 2>/dev/null
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out apiserver.crt -days 365 -extfile apiserver.ext 2>/dev/null
    printf 'extendedKeyUsage=clientAuth\n' >client.ext
    openssl req -newkey rsa:2048 -nodes -keyout admin.key -out admin.csr -subj "/O=system:masters/CN=admin" 2>/dev/null
    openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out admin.crt -days 365 -extfile client.ext 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  )
  mkdir -p bin/cluster
  cat >"$kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster: {server: "https://$node_ip:6443", certificate-authority: "$pki/ca.crt"}
users:
- name: admin
  user: {client-certificate: "$pki/admin.crt", client-key: "$pki/admin.key"}
contexts:
- name: local
  context: {cluster: local, user: admin}
current-context: local
KC
}

# prepare_host installs what Debian provides (runc, the CNI plugins,
# iptables) and makes the changes ../shared/notes/local-cluster.md lists.
prepare_host() {
  if ! command -v runc >/dev/null || [ ! -x /usr/lib/cni/bridge ] || ! command -v iptables >/dev/null || ! command -v conntrack >/dev/null; then
    apt-get install -y --no-install-recommends runc containernetworking-plugins iptables conntrack >/dev/null
  fi
  mount --make-rshared /
  sysctl -qw net.ipv4.ip_forward=1
  sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null || true
}

start_control_plane() {
  start etcd bin/k8s/etcd --data-dir "$state/etcd" --listen-client-urls http://127.0.0.1:2379 \
    --advertise-client-urls http://127.0.0.1:2379 --listen-peer-urls http://127.0.0.1:2380
  wait_for etcd curl -sf http://127.0.0.1:2379/health
  start kube-apiserver bin/k8s/kube-apiserver --etcd-servers=http://127.0.0.1:2379 \
    --bind-address=0.0.0.0 --advertise-address="$node_ip" --secure-port=6443 \
    --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" --client-ca-file="$pki/ca.crt" \
    --kubelet-client-certificate="$pki/admin.crt" --kubelet-client-key="$pki/admin.key" \
    --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-cluster-ip-range="$service_cidr" --authorization-mode=Node,RBAC --allow-privileged=true
  wait_for kube-apiserver bin/cluster/kubectl --kubeconfig "$kubeconfig" get --raw /readyz
  start kube-controller-manager bin/cluster/kube-controller-manager --kubeconfig "$kubeconfig" --leader-elect=false \
    --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" --use-service-account-credentials=true \
    --service-cluster-ip-range="$service_cidr"
  start kube-scheduler bin/cluster/kube-scheduler --kubeconfig "$kubeconfig" --leader-elect=false
}

start_containerd() {
  mkdir -p "$state/containerd" "$state/cni/net.d"
  cat >"$state/cni/net.d/10-local.conflist" <<CNI
{"cniVersion": "1.0.0", "name": "local", "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$pod_cidr"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
CNI
  cat >"$state/containerd/config.toml" <<TOML
version = 3
root = "$state/containerd/root"
state = "$state/containerd/state"
[grpc]
  address = "$sock"
[plugins.'io.containerd.cri.v1.runtime']
  # The VM lacks CAP_SYS_RESOURCE: runc fails every sandbox without this.
  restrict_oom_score_adj = true
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ['/usr/lib/cni']
    conf_dir = '$state/cni/net.d'
  [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
    runtime_type = 'io.containerd.runc.v2'
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
      SystemdCgroup = false
[plugins.'io.containerd.cri.v1.images']
  snapshotter = 'overlayfs'
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = '$pause_image'
TOML
  PATH="$PWD/bin/cluster:$PATH" start containerd bin/cluster/containerd --config "$state/containerd/config.toml"
  wait_for containerd bin/cluster/ctr -a "$sock" version
}

# import_images puts the pause image, and the images built into bin/
# (make image-tar, hack/minio.sh image), where the kubelet finds them.
import_images() {
  local pause_bin="$state/pause"
  (cd hack/image && CGO_ENABLED=0 go build -o "$pause_bin" ./pause && \
    go run . -binary "$pause_bin" -name pause -links "" -tag "$pause_image" -out "$state/pause.tar")
  load "$state/pause.tar"
  shopt -s nullglob
  load bin/*-image.tar
}

load() {
  for tar in "$@"; do
    echo "importing $tar" >&2
    bin/cluster/ctr -a "$sock" -n k8s.io images import "$tar" >/dev/null
  done
}

start_node() {
  mkdir -p "$state/kubelet"
  cat >"$state/kubelet/config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
failSwapOn: false
containerRuntimeEndpoint: unix://$sock
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
  x509: {clientCAFile: "$pki/ca.crt"}
authorization: {mode: AlwaysAllow}
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
clusterDNS: ["$dns_ip"]
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
YAML
  start kubelet bin/cluster/kubelet --config "$state/kubelet/config.yaml" --kubeconfig "$kubeconfig" \
    --root-dir "$state/kubelet/root" --node-ip "$node_ip"
  start kube-proxy bin/cluster/kube-proxy --kubeconfig "$kubeconfig" --proxy-mode=iptables \
    --conntrack-max-per-core=0 --cluster-cidr="$pod_cidr"
  wait_for "the node" bin/cluster/kubectl --kubeconfig "$kubeconfig" wait --for=condition=Ready node --all --timeout=1s
}

# start_dns runs CoreDNS on the host, serving the cluster domain from the
# API, behind the kube-dns Service's address.
start_dns() {
  cat >"$state/Corefile" <<COREFILE
.:53 {
    bind $node_ip
    errors
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $kubeconfig local
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    forward . /etc/resolv.conf
    cache 30
}
COREFILE
  start coredns bin/cluster/coredns -conf "$state/Corefile"
  bin/cluster/kubectl --kubeconfig "$kubeconfig" apply -f - >/dev/null <<DNS
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  clusterIP: $dns_ip
  ports: [{name: dns, port: 53, protocol: UDP}, {name: dns-tcp, port: 53, protocol: TCP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: kube-dns-host, namespace: kube-system, labels: {kubernetes.io/service-name: kube-dns}}
addressType: IPv4
ports: [{name: dns, port: 53, protocol: UDP}, {name: dns-tcp, port: 53, protocol: TCP}]
endpoints: [{addresses: ["$node_ip"]}]
DNS
}

up() {
  [ "$(id -u)" = 0 ] || { echo "local-cluster: run as root" >&2; exit 1; }
  if [ -f "$state/kube-apiserver.pid" ]; then
    echo "local-cluster: already up ($state); run hack/local-cluster.sh down first" >&2
    exit 1
  fi
  build
  hack/setup-envtest.sh
  mkdir -p "$state" "$logs"
  prepare_host
  certs
  start_control_plane
  start_containerd
  import_images
  start_node
  start_dns
  echo "local cluster up: KUBECONFIG=$kubeconfig (logs in $logs)"
}

down() {
  local pids=()
  for name in kube-proxy kubelet coredns kube-scheduler kube-controller-manager kube-apiserver containerd etcd; do
    if [ -f "$state/$name.pid" ]; then
      pids+=("$(cat "$state/$name.pid")")
      rm -f "$state/$name.pid"
    fi
  done
  pkill -f "containerd-shim-runc-v2 .*$state" 2>/dev/null || true
  if [ ${#pids[@]} -gt 0 ]; then
    kill "${pids[@]}" 2>/dev/null || true
    # A test cluster need not drain: 10 s of grace, then SIGKILL.
    for _ in $(seq 20); do
      local alive=0
      for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
      [ $alive = 1 ] || break
      sleep 0.5
    done
    kill -9 "${pids[@]}" 2>/dev/null || true
  fi
  if [ -d "$state" ]; then
    grep -o " $state/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$state"
  fi
  ip link delete cni0 2>/dev/null || true
  rm -f "$kubeconfig"
}

case ${1:-} in
  build) build ;;
  up) up ;;
  load) shift; load "$@" ;;
  down) down ;;
  *) echo "usage: hack/local-cluster.sh build | up | load TAR... | down" >&2; exit 2 ;;
esac
