#!/usr/bin/env bash
# Build (once, cached) a tiny Linux guest for end-to-end tests and benchmarks:
#
#   OUTDIR/vmlinuz               kernel of linux-image-6.1.0-N-cloud-amd64
#   OUTDIR/initrd-balloon.img    busybox initramfs that loads virtio_balloon
#   OUTDIR/initrd-noballoon.img  the same without virtio_balloon
#   OUTDIR/kernel-version        e.g. 6.1.0-56-cloud-amd64
#   OUTDIR/kernel-config         that kernel's build configuration (boot/config-*)
#
# Usage: scripts/build-tiny-guest.sh [OUTDIR]
#   OUTDIR defaults to ${VBM_GUEST_CACHE:-/var/cache/vboxkvm/guest}.
#   Nothing is done when all outputs exist and are newer than this script and
#   guest/memload.c; VBM_GUEST_REBUILD=1 forces a rebuild.
# Prints the output paths (stdout, one per line); progress goes to stderr.
#
# The guest's /init mounts proc, sysfs and devtmpfs, insmods virtio_ring,
# virtio, virtio_pci_legacy_dev, virtio_pci_modern_dev, virtio_pci, virtio_blk
# (and virtio_balloon), plus button and evdev so that an ACPI power-button press
# (virsh shutdown) powers it off, and virtio_net: each ethN is brought up and gets its
# address from busybox's udhcpc in the background. Then it prints
#   VBOXKVM-GUEST-READY balloon|noballoon
# to /dev/kmsg and to the console (use console=ttyS0). Then it runs the
# workload guest/memload.c (idle unless the kernel command line has vbm.load=
# or the host writes to the second serial port; see guest/README.md), logs
#   VBM-LOAD t=MS op=killed signal=N demand=0
# when a signal (the OOM killer) kills it and restarts it with --resume.
# If a required module fails to load it prints VBOXKVM-GUEST-FAILED instead
# and sleeps forever.
#
# Packages come from Debian's mirrors with apt-get download + dpkg -x;
# memload is built with musl-gcc (musl-tools) as a small static binary.
set -euo pipefail

SCRIPT=$(readlink -f "${BASH_SOURCE[0]}")
HERE=$(dirname "$SCRIPT")
REPO=$(dirname "$HERE")
MEMLOAD_SRC=$REPO/guest/memload.c
LOG_TAG="build-tiny-guest"
# shellcheck source-path=SCRIPTDIR source=lib/ensure-pkgs.sh
. "$HERE/lib/ensure-pkgs.sh"
log() { echo "$LOG_TAG: $*" >&2; }

OUTDIR=${1:-${VBM_GUEST_CACHE:-/var/cache/vboxkvm/guest}}
KERNEL_META=${VBM_GUEST_KERNEL_META:-linux-image-cloud-amd64}
OUTPUTS=(vmlinuz initrd-balloon.img initrd-noballoon.img kernel-version kernel-config)
# virtio_blk: a disk whose reads fill the guest's page cache (memload's cache steps).
BASE_MODULES=(virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk)
# failover, net_failover, virtio_net (in that order): a virtio NIC, which /init brings up with
# busybox's DHCP client when the domain has one (tests/e2e/guestproperty.sh).
OPTIONAL_MODULES=(button evdev failover net_failover virtio_net)

up_to_date() {
    local f
    [[ ${VBM_GUEST_REBUILD:-0} == 1 ]] && return 1
    for f in "${OUTPUTS[@]}"; do
        [[ -s $OUTDIR/$f && $OUTDIR/$f -nt $SCRIPT && $OUTDIR/$f -nt $MEMLOAD_SRC ]] || return 1
    done
}

print_outputs() {
    local f
    for f in "${OUTPUTS[@]}"; do echo "$OUTDIR/$f"; done
}

mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
if up_to_date; then
    log "up to date in $OUTDIR (kernel $(cat "$OUTDIR/kernel-version"))"
    print_outputs
    exit 0
fi

exec 9>"$OUTDIR/.build.lock"
flock -w 600 9 || { log "could not lock $OUTDIR/.build.lock"; exit 1; }
if up_to_date; then # somebody else built it while we waited
    log "up to date in $OUTDIR (built concurrently)"
    print_outputs
    exit 0
fi

t0=$SECONDS
if ((EUID == 0)); then
    ensure_pkgs cpio gzip apt musl-tools
else
    for tool in cpio gzip apt-get dpkg-deb musl-gcc; do
        command -v "$tool" >/dev/null || { log "$tool is missing (run as root to install it)"; exit 1; }
    done
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/vboxkvm-guest.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

# ---- download ---------------------------------------------------------------
kernel_pkg() {
    apt-cache depends "$KERNEL_META" 2>/dev/null |
        awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }'
}
kpkg=$(kernel_pkg || true)
if [[ -z $kpkg ]]; then
    log "apt-cache does not know $KERNEL_META; running apt-get update"
    if ((EUID == 0)); then
        DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300 update >&2
    fi
    kpkg=$(kernel_pkg || true)
fi
[[ -n $kpkg ]] || { log "cannot resolve the kernel package behind $KERNEL_META"; exit 1; }
log "downloading $kpkg and busybox-static"
apt_download "$kpkg" busybox-static
dpkg -x "$(ls "$kpkg"_*.deb)" kpkg
dpkg -x "$(ls busybox-static_*.deb)" bb

kver=$(ls kpkg/lib/modules)
[[ $(wc -w <<<"$kver") == 1 ]] || { log "expected one module dir, got: $kver"; exit 1; }
moddir=kpkg/lib/modules/$kver
vmlinuz=kpkg/boot/vmlinuz-$kver
[[ -s $vmlinuz ]] || { log "no $vmlinuz in $kpkg"; exit 1; }

# ---- root tree shared by both variants ---------------------------------------
mkdir -p root/{bin,dev,proc,sys,tmp,run,etc,lib/modules}
install -m 0755 bb/bin/busybox root/bin/busybox
musl-gcc -static -O2 -Wall -Wextra -Werror -s -o root/bin/memload "$MEMLOAD_SRC"
if ((EUID == 0)); then # the kernel wants /dev/console before devtmpfs is mounted
    mknod -m 0600 root/dev/console c 5 1
    mknod -m 0666 root/dev/null c 1 3
fi

# add_module NAME REQUIRED: copy NAME.ko (decompressed) into root/lib/modules.
add_module() {
    local name=$1 required=$2 f
    f=$(find "$moddir" \( -name "$name.ko" -o -name "$name.ko.xz" -o -name "$name.ko.zst" -o -name "$name.ko.gz" \) -print -quit)
    if [[ -z $f ]]; then
        if grep -qE "/$name\.ko\$" "$moddir/modules.builtin" 2>/dev/null; then
            log "$name is built into the kernel"
            return 0
        fi
        if [[ $required == 1 ]]; then log "module $name not found in $kpkg"; exit 1; fi
        log "optional module $name not found; skipping"
        return 0
    fi
    case $f in
        *.ko) cp "$f" "root/lib/modules/$name.ko" ;;
        *.ko.xz)
            ((EUID != 0)) || ensure_pkgs xz-utils
            xz -dc "$f" >"root/lib/modules/$name.ko"
            ;;
        *.ko.zst)
            ((EUID != 0)) || ensure_pkgs zstd
            zstd -q -dc "$f" >"root/lib/modules/$name.ko"
            ;;
        *.ko.gz) gzip -dc "$f" >"root/lib/modules/$name.ko" ;;
    esac
}
for m in "${BASE_MODULES[@]}" virtio_balloon; do add_module "$m" 1; done
for m in "${OPTIONAL_MODULES[@]}"; do add_module "$m" 0; done

cat >root/init <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
variant=$(cat /etc/vboxkvm-variant)

ok=1
for m in $(cat /etc/vboxkvm-modules); do
    [ -f /lib/modules/$m.ko ] || continue   # built into the kernel
    insmod /lib/modules/$m.ko || { echo "VBOXKVM-GUEST-FAILED insmod $m"; ok=0; }
done
for m in $(cat /etc/vboxkvm-optional-modules); do
    [ -f /lib/modules/$m.ko ] && insmod /lib/modules/$m.ko 2>/dev/null
done

# ACPI power button (virsh shutdown) -> power off.
for d in /sys/class/input/input*; do
    [ "$(cat $d/name 2>/dev/null)" = "Power Button" ] || continue
    for e in $d/event*; do
        [ -e "$e" ] || continue
        ev=/dev/input/${e##*/}
        ( dd if=$ev of=/dev/null bs=24 count=1 2>/dev/null &&
          echo "VBOXKVM-GUEST-POWEROFF" && echo "VBOXKVM-GUEST-POWEROFF" >/dev/kmsg &&
          sync && poweroff -f ) &
    done
done

# Network interfaces (a virtio NIC): up, and an address by DHCP in the background.
for n in /sys/class/net/eth*; do
    [ -e "$n" ] || continue
    ip link set "${n##*/}" up
    udhcpc -b -q -S -i "${n##*/}" -s /etc/udhcpc.script >/dev/null 2>&1
done

if [ $ok != 1 ]; then
    echo "VBOXKVM-GUEST-FAILED $variant" >/dev/kmsg
    while :; do sleep 3600; done
fi
# The OOM killer's "Out of memory: Killed process" (KERN_ERR) must reach the console.
read -r level rest </proc/sys/kernel/printk
[ "$level" -ge 4 ] || echo 4 >/proc/sys/kernel/printk
echo "VBOXKVM-GUEST-READY $variant" >/dev/kmsg
echo "VBOXKVM-GUEST-READY $variant"

# The workload: restarted (going on with its next step) when a signal kills it.
resume=
while :; do
    memload $resume
    rc=$?
    [ $rc -gt 128 ] || break
    memload --log "op=killed signal=$((rc - 128)) demand=0"
    resume=--resume
    sleep 1 # no tight loop if it dies at once
done
memload --log "op=exit status=$rc demand=0"
while :; do sleep 3600; done
INIT
chmod 0755 root/init
# udhcpc's hook: the leased address on the interface (busybox exports ip, mask, router).
cat >root/etc/udhcpc.script <<'DHCP'
#!/bin/busybox sh
case $1 in
    bound | renew)
        ip addr flush dev "$interface"
        ip addr add "$ip/$mask" dev "$interface"
        [ -n "$router" ] && ip route add default via "${router%% *}" dev "$interface"
        ;;
esac
exit 0
DHCP
chmod 0755 root/etc/udhcpc.script
printf '%s\n' "${OPTIONAL_MODULES[@]}" >root/etc/vboxkvm-optional-modules

# build_initrd VARIANT MODULES...
build_initrd() {
    local variant=$1 out="$OUTDIR/initrd-$1.img"
    shift
    printf '%s\n' "$variant" >root/etc/vboxkvm-variant
    printf '%s\n' "$@" >root/etc/vboxkvm-modules
    # Keep only the modules this variant loads (plus the optional ones).
    rm -rf "root-$variant"
    cp -a root "root-$variant"
    if [[ $variant == noballoon ]]; then rm -f "root-$variant/lib/modules/virtio_balloon.ko"; fi
    find "root-$variant" -exec touch -h -d @0 {} +
    (cd "root-$variant" && find . -print0 | LC_ALL=C sort -z |
        cpio --null -o -H newc -R 0:0 --reproducible --quiet) | gzip -9 -n >"$out.tmp"
    mv -f "$out.tmp" "$out"
    log "wrote $out ($(du -k "$out" | cut -f1) KiB)"
}
build_initrd balloon "${BASE_MODULES[@]}" virtio_balloon
build_initrd noballoon "${BASE_MODULES[@]}"

cp "$vmlinuz" "$OUTDIR/vmlinuz.tmp"
mv -f "$OUTDIR/vmlinuz.tmp" "$OUTDIR/vmlinuz"
cp "kpkg/boot/config-$kver" "$OUTDIR/kernel-config.tmp"
mv -f "$OUTDIR/kernel-config.tmp" "$OUTDIR/kernel-config"
echo "$kver" >"$OUTDIR/kernel-version.tmp"
mv -f "$OUTDIR/kernel-version.tmp" "$OUTDIR/kernel-version"
log "built guest (kernel $kver) in $OUTDIR in $((SECONDS - t0)) s"
print_outputs
