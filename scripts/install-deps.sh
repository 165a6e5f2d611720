#!/usr/bin/env bash
# Installs every Debian 12 package vboxkvm needs to build, test and run its demo.
# Idempotent: does nothing when all are present. Needs root (or sudo) to install.
# --list prints the package names instead.
set -euo pipefail
pkgs=(
  # build
  cmake ninja-build g++ pkg-config libfmt-dev libsqlite3-dev libvirt-dev
  libgtest-dev libgmock-dev libpugixml-dev nlohmann-json3-dev
  # real libvirtd, QEMU guests, the tiny guest image
  libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86 cpio busybox-static musl-tools
  # libvirt NAT networks (DHCP for the guestproperty e2e test)
  dnsmasq-base iptables
  # docs, completion and the tests of them
  scdoc man-db bash-completion zsh shellcheck tmux
  # the .deb: cpack's Depends come from dpkg-shlibdeps (dpkg-dev), which needs file
  dpkg-dev file
  # test tools
  sqlite3 procps iproute2 python3 util-linux mount
  # Prometheus: promtool (checks the rules and the textfile), a real node_exporter and
  # prometheus for e2e.prometheus (which starts its own, on loopback; see below)
  prometheus prometheus-node-exporter
  # real clients for e2e.clients: Vagrant's VirtualBox provider, Ansible's virtualbox inventory
  vagrant ansible
  # fuzzing (the fuzz preset): clang, libFuzzer, llvm-symbolizer for sanitizer reports
  clang-14 libclang-rt-14-dev llvm-14
  # lint (the tidy preset)
  clang-tidy-14
)
if [ "${1:-}" = --list ]; then
  printf '%s\n' "${pkgs[@]}"
  exit 0
fi
missing=()
for p in "${pkgs[@]}"; do
  [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root to install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# prometheus and prometheus-node-exporter start their services when installed (a Prometheus
# and a node_exporter listening on every interface, or a failed start that fails the install
# where there is no init system). The tests start their own, so while apt runs, a policy-rc.d
# (Debian's invoke-rc.d and deb-systemd-invoke ask it) refuses to start prometheus* units; an
# existing policy-rc.d (containers have one) is left as it is.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  # shellcheck disable=SC2016 # the policy's own $1, expanded when dpkg runs it
  printf '%s\n' '#!/bin/sh' '# vboxkvm install-deps.sh: removed when its apt-get ends' \
    'while [ "${1#--}" != "$1" ]; do shift; done' \
    'case "$1" in prometheus|prometheus[.-]*) exit 101 ;; esac' 'exit 0' |
    "${sudo[@]}" tee "$policy" >/dev/null
  "${sudo[@]}" chmod 0755 "$policy"
  trap '"${sudo[@]}" rm -f "$policy"' EXIT
fi
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q -o DPkg::Lock::Timeout=300 "${missing[@]}"
