#!/usr/bin/env bash
# Installs everything Tortie needs on a fresh Debian 12 machine (as root), each
# system package only when missing, then the npm dependencies and the build.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  iproute2 nftables iptables ipset conntrack procps psmisc
  etcd-server etcd-client
  bird2 gobgpd frr
  iperf3 iputils-ping
  podman runc containernetworking-plugins busybox-static
  python3 make gcc g++ git ca-certificates
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "== apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The packaged daemons must not run on their own: tests and the lab start
# their own instances inside namespaces or on loopback.
for svc in etcd bird frr; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    systemctl stop "$svc" >/dev/null 2>&1 || true
    systemctl disable "$svc" >/dev/null 2>&1 || true
  fi
done

if ! command -v node >/dev/null 2>&1; then
  echo "node (>= 20) is required" >&2
  exit 1
fi
echo "== npm ci"
npm ci --no-audit --no-fund
echo "== build"
npm run --silent build
echo "== setup done"
