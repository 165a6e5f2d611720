# shellcheck shell=bash
# Sourced helper: the tiny TCG test guest (scripts/build-tiny-guest.sh) as a libvirt domain --
# the one definition e2e tests (tests/e2e/common.sh define_guest) and benchmarks (bench/lib.sh
# define_tiny_guest) use -- and the host's side of its workload, guest/memload.c.
#
#   tiny_guest_image                      build or reuse the image; sets TINY_GUEST_KERNEL,
#                                         TINY_GUEST_INITRD_BALLOON, TINY_GUEST_INITRD_NOBALLOON
#   tiny_guest_xml NAME [OPTION...]       print the domain XML
#   tiny_guest_define URI NAME [OPTION...]  define it on URI (creates the cache disk's file)
#   tiny_guest_send SOCKET LINE [TIMEOUT_S]  a line to memload's control socket; prints its
#                                         answer ("OK ..." -> status 0, "ERR why" -> 1)
#   tiny_guest_load_stats LOG             what memload's console lines say, as KEY=VALUE lines
#   tiny_guest_demand LOG                 "T_MS DEMAND_MIB" for each line that has a demand
#
# OPTIONs (defaults: a 256 MiB, 1-vCPU q35 guest with a virtio balloon reporting statistics
# every 2 s, no console, no disk, memload idle):
#   --memory MIB  --current-memory MIB  --vcpus N
#   --no-balloon-device                 <memballoon model='none'/>
#   --no-balloon-driver                 the initramfs without virtio_balloon
#   --stats-period S                    the balloon's statistics period, 0 for none
#   --free-page-reporting               <memballoon freePageReporting='on'>
#   --autodeflate                       <memballoon autodeflate='on'> (deflate on OOM)
#   --no-share-pages                    <memoryBacking><nosharepages/> (KSM keeps off)
#   --cache-disk MIB --disk-file FILE   a raw file of MIB random bytes as virtio disk vda
#   --load STEPS  --seed N  --share P  --stall MS   memload's vbm.* kernel parameters
#   --control-socket PATH               serial port 1 (guest ttyS1) as a unix socket libvirt
#                                       binds: the host writes memload commands to it
#   --serial-log PATH                   serial port 0 (the console) logged to a file
#   --kernel FILE --initrd FILE         instead of tiny_guest_image's
#   --network NAME                      a virtio NIC on libvirt network NAME (the guest asks
#                                       for an address by DHCP)
#   --xml FILE                          (tiny_guest_define) also keep the XML in FILE
# Errors go to stderr with status 1.

_TG_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

_tg_err() {
    echo "tiny-guest: $*" >&2
    return 1
}

# _tg_xml TEXT: TEXT escaped for an XML attribute or element.
_tg_xml() {
    local s=${1//&/&amp;}
    s=${s//</&lt;}
    s=${s//>/&gt;}
    s=${s//\'/&apos;}
    s=${s//\"/&quot;}
    printf '%s' "$s"
}

tiny_guest_image() {
    local out
    out=$("$_TG_REPO/scripts/build-tiny-guest.sh") || _tg_err "scripts/build-tiny-guest.sh failed" || return
    TINY_GUEST_KERNEL=$(grep '/vmlinuz$' <<<"$out")
    TINY_GUEST_INITRD_BALLOON=$(grep '/initrd-balloon.img$' <<<"$out")
    TINY_GUEST_INITRD_NOBALLOON=$(grep '/initrd-noballoon.img$' <<<"$out")
    export TINY_GUEST_KERNEL TINY_GUEST_INITRD_BALLOON TINY_GUEST_INITRD_NOBALLOON
}

# _tg_parse NAME OPTION...: the options into _tg[...] (an associative array of the caller's).
_tg_parse() {
    _tg=([name]=$1 [memory]=256 [current]="" [vcpus]=1 [device]=1 [driver]=1 [period]=2 [fpr]=0
        [autodeflate]=0 [share_pages]=1 [disk_mib]="" [disk_file]="" [load]="" [seed]="" [share]=""
        [stall]="" [ctl]="" [log]="" [kernel]="" [initrd]="" [xml]="" [network]="")
    shift
    while (($#)); do
        case $1 in
            --memory | --current-memory | --vcpus | --stats-period | --cache-disk | --disk-file | \
                --load | --seed | --share | --stall | --control-socket | --serial-log | --kernel | \
                --initrd | --xml | --network)
                (($# >= 2)) || _tg_err "$1 needs a value" || return
                case $1 in
                    --memory) _tg[memory]=$2 ;;
                    --current-memory) _tg[current]=$2 ;;
                    --vcpus) _tg[vcpus]=$2 ;;
                    --stats-period) _tg[period]=$2 ;;
                    --cache-disk) _tg[disk_mib]=$2 ;;
                    --disk-file) _tg[disk_file]=$2 ;;
                    --load) _tg[load]=$2 ;;
                    --seed) _tg[seed]=$2 ;;
                    --share) _tg[share]=$2 ;;
                    --stall) _tg[stall]=$2 ;;
                    --control-socket) _tg[ctl]=$2 ;;
                    --serial-log) _tg[log]=$2 ;;
                    --kernel) _tg[kernel]=$2 ;;
                    --initrd) _tg[initrd]=$2 ;;
                    --xml) _tg[xml]=$2 ;;
                    --network) _tg[network]=$2 ;;
                esac
                shift 2
                ;;
            --no-balloon-device) _tg[device]=0; shift ;;
            --no-balloon-driver) _tg[driver]=0; shift ;;
            --free-page-reporting) _tg[fpr]=1; shift ;;
            --autodeflate) _tg[autodeflate]=1; shift ;;
            --no-share-pages) _tg[share_pages]=0; shift ;;
            *) _tg_err "unknown option $1"; return ;;
        esac
    done
    local k
    for k in memory vcpus period; do
        [[ ${_tg[$k]} =~ ^[0-9]+$ ]] || _tg_err "--$k must be a number, not '${_tg[$k]}'" || return
    done
    for k in current disk_mib seed share stall; do
        [[ ${_tg[$k]} =~ ^[0-9]*$ ]] || _tg_err "$k must be a number, not '${_tg[$k]}'" || return
    done
    # memload's schedule goes on the kernel command line: one word of its own characters.
    [[ ${_tg[load]} =~ ^[a-z0-9@%.,]*$ ]] || _tg_err "--load: not a schedule: '${_tg[load]}'" || return
    if [[ -n ${_tg[disk_mib]} && -z ${_tg[disk_file]} ]]; then
        _tg_err "--cache-disk needs --disk-file"
        return
    fi
    # A unix socket's path (sun_path) holds 107 bytes.
    ((${#_tg[ctl]} <= 107)) || _tg_err "control socket path longer than 107 bytes: ${_tg[ctl]}" || return
    if [[ -z ${_tg[kernel]} || -z ${_tg[initrd]} ]]; then
        [[ -n ${TINY_GUEST_KERNEL:-} ]] || tiny_guest_image || return
        [[ -n ${_tg[kernel]} ]] || _tg[kernel]=$TINY_GUEST_KERNEL
        if [[ -z ${_tg[initrd]} ]]; then
            _tg[initrd]=$TINY_GUEST_INITRD_BALLOON
            ((_tg[driver])) || _tg[initrd]=$TINY_GUEST_INITRD_NOBALLOON
        fi
    fi
}

# _tg_cmdline: the kernel command line from _tg.
_tg_cmdline() {
    local c="console=ttyS0"
    [[ -z ${_tg[load]} ]] || c+=" vbm.load=${_tg[load]}"
    [[ -z ${_tg[seed]} ]] || c+=" vbm.seed=${_tg[seed]}"
    [[ -z ${_tg[share]} ]] || c+=" vbm.share=${_tg[share]}"
    [[ -z ${_tg[stall]} ]] || c+=" vbm.stall=${_tg[stall]}"
    # x86's COMMAND_LINE_SIZE is 2048 bytes with the terminating NUL.
    ((${#c} < 2048)) || _tg_err "kernel command line longer than 2047 bytes (${#c})" || return
    printf '%s' "$c"
}

# _tg_emit: the domain XML from _tg.
_tg_emit() {
    local cmdline mem=${_tg[memory]} cur=${_tg[current]:-${_tg[memory]}} attrs=""
    cmdline=$(_tg_cmdline) || return
    echo "<domain type='qemu'>"
    echo "  <name>$(_tg_xml "${_tg[name]}")</name>"
    echo "  <memory unit='KiB'>$((mem * 1024))</memory>"
    echo "  <currentMemory unit='KiB'>$((cur * 1024))</currentMemory>"
    echo "  <vcpu>${_tg[vcpus]}</vcpu>"
    ((_tg[share_pages])) || echo "  <memoryBacking><nosharepages/></memoryBacking>"
    echo "  <os>"
    echo "    <type arch='x86_64' machine='q35'>hvm</type>"
    echo "    <kernel>$(_tg_xml "${_tg[kernel]}")</kernel>"
    echo "    <initrd>$(_tg_xml "${_tg[initrd]}")</initrd>"
    echo "    <cmdline>$(_tg_xml "$cmdline")</cmdline>"
    echo "  </os>"
    echo "  <features><acpi/></features>"
    echo "  <on_poweroff>destroy</on_poweroff>"
    echo "  <on_reboot>restart</on_reboot>"
    echo "  <on_crash>destroy</on_crash>"
    echo "  <devices>"
    echo "    <controller type='usb' model='none'/>"
    if [[ -n ${_tg[disk_mib]} ]]; then
        echo "    <disk type='file' device='disk'><driver name='qemu' type='raw'/>"
        echo "      <source file='$(_tg_xml "${_tg[disk_file]}")'/><target dev='vda' bus='virtio'/></disk>"
    fi
    if [[ -n ${_tg[log]} ]]; then
        echo "    <serial type='file'><source path='$(_tg_xml "${_tg[log]}")'/><target port='0'/></serial>"
    elif [[ -n ${_tg[ctl]} ]]; then
        echo "    <serial type='null'><target port='0'/></serial>"
    fi
    if [[ -n ${_tg[ctl]} ]]; then
        echo "    <serial type='unix'><source mode='bind' path='$(_tg_xml "${_tg[ctl]}")'/><target port='1'/></serial>"
    fi
    if [[ -n ${_tg[network]} ]]; then
        echo "    <interface type='network'><source network='$(_tg_xml "${_tg[network]}")'/><model type='virtio'/></interface>"
    fi
    if ((_tg[device])); then
        ((_tg[autodeflate])) && attrs+=" autodeflate='on'"
        ((_tg[fpr])) && attrs+=" freePageReporting='on'"
        if ((_tg[period] > 0)); then
            echo "    <memballoon model='virtio'$attrs><stats period='${_tg[period]}'/></memballoon>"
        else
            echo "    <memballoon model='virtio'$attrs/>"
        fi
    else
        echo "    <memballoon model='none'/>"
    fi
    echo "  </devices>"
    echo "</domain>"
}

tiny_guest_xml() {
    local -A _tg
    _tg_parse "$@" || return
    _tg_emit
}

tiny_guest_define() {
    local uri=$1 xml
    shift
    local -A _tg
    _tg_parse "$@" || return
    xml=$(_tg_emit) || return
    if [[ -n ${_tg[xml]} ]]; then
        printf '%s\n' "$xml" >"${_tg[xml]}" || return
    fi
    # Random bytes, not a sparse file: what a guest reads from it is then like real page cache.
    # A cache of zeros is not: in bench_autoballoon (kernel 6.18, THP on madvise) the host freed
    # the guests' zero-filled cache pages by itself ~80 s after they were read, no balloon
    # involved, and credited that to whichever policy ran.
    if [[ -n ${_tg[disk_mib]} ]]; then
        rm -f "${_tg[disk_file]}"
        head -c "${_tg[disk_mib]}M" /dev/urandom >"${_tg[disk_file]}" || return
    fi
    virsh -q -c "$uri" define /dev/stdin <<<"$xml" >/dev/null ||
        _tg_err "virsh define of ${_tg[name]} on $uri failed"
}

# ---- memload, the guest's workload ------------------------------------------------------------

tiny_guest_send() {
    python3 "$_TG_REPO/scripts/lib/memload_ctl.py" "$1" "$2" "${3:-15}"
}

# The awk prelude that splits a VBM-LOAD line into f[KEY]=VALUE (from the marker on: the kernel
# may have printed on the same line first; the \r of the tty's CRLF is dropped).
# shellcheck disable=SC2016 # awk's $0, not the shell's
_TG_LOAD_AWK='
function fields(   i, n, kv, p, eq) {
    sub(/\r$/, "")
    p = index($0, "VBM-LOAD t=")
    if (p == 0) return 0
    delete f
    n = split(substr($0, p + 9), kv, " ")
    for (i = 1; i <= n; i++) {
        eq = index(kv[i], "=")
        if (eq > 0) f[substr(kv[i], 1, eq - 1)] = substr(kv[i], eq + 1)
    }
    return 1
}'

tiny_guest_load_stats() {
    awk "$_TG_LOAD_AWK"'
        /Out of memory: Killed process/ { oom++ }
        fields() {
            lines++; op = f["op"]; ops[op]++; t = f["t"]
            if ("demand" in f) { demand = f["demand"]; if (demand + 0 > dmax) dmax = demand + 0 }
            if (op == "stall") { stall_ms += f["ms"]; if (f["ms"] + 0 > smax) smax = f["ms"] + 0 }
        }
        END {
            printf "lines=%d\nt_last=%s\nlast_op=%s\ndemand=%d\ndemand_max=%d\n", lines, t, op, demand, dmax
            printf "stalls=%d\nstall_ms=%d\nstall_max_ms=%d\n", ops["stall"], stall_ms, smax
            printf "oom_kills=%d\nkilled=%d\nstarts=%d\n", oom, ops["killed"], ops["start"]
            printf "steps_done=%d\ncmds=%d\ncmd_errors=%d\nerrors=%d\n", ops["done"] + ops["free"], ops["cmd"], ops["cmd-error"], ops["error"]
        }' "$1"
}

tiny_guest_demand() {
    awk "$_TG_LOAD_AWK"'fields() && ("demand" in f) { print f["t"], f["demand"] }' "$1"
}
