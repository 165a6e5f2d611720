#!/usr/bin/env bash
# The security checklist of ARCHITECTURE.md, each item checked:
#  - the store directory is 0700 and every file in it 0600 (db, -wal, -shm, locks, collector
#    log), even under umask 000;
#  - no user data reaches a shell: product code has no system(), popen(), exec*p() or /bin/sh;
#    the one exec is execv of /proc/self/exe (sys/daemon.cpp spawn_daemon), called with
#    fixed words only (plus the libvirt URI as one argv word, for the page-fusion controller);
#  - completion needs no more privilege than the command it serves: it works as an
#    unprivileged user whose store cannot even be created, and writes nothing. As root the
#    test drops to nobody (setpriv); otherwise it already is such a user.
#   test_security.sh BIN SRC_DIR DATA_DIR
set -u
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
bin=$1 src=$2 data=$3
[[ $(id -u) != 0 ]] || need_cmd setpriv
chmod 755 "$T_TMP"
home=$T_TMP/deep/er/vbox
stop_collector() { VBOX_USER_HOME=$home "$bin" metrics disable >/dev/null 2>&1; }
on_exit stop_collector
export LIBVIRT_DEFAULT_URI="test://$data/node.xml"
mode_is() { [[ $(stat -c %a "$2") == "$1" ]]; }

# 1. Modes under umask 000, with a collector holding the store open (so -wal/-shm exist).
(
  umask 000
  VBOX_USER_HOME=$home "$bin" modifyvm off1 --memory 512 >/dev/null &&
    VBOX_USER_HOME=$home "$bin" metrics setup host RAM/Usage >/dev/null
) || die "could not create the store"
wait_for 5 test -e "$home/vboxkvm.db-wal" -a -e "$home/vboxkvm.db-shm"
check "store directory is 0700" mode_is 700 "$home"
check "each level created is 0700" mode_is 700 "$T_TMP/deep/er"
for f in "$home"/*; do
  check "$(basename "$f") is 0600" mode_is 600 "$f"
done
check "the -wal and -shm files were there to check" test -e "$home/vboxkvm.db-wal" -a -e "$home/vboxkvm.db-shm"
VBOX_USER_HOME=$home "$bin" metrics disable >/dev/null

# 2. No shell anywhere in the product code.
product=("$src/cli" "$src/sys" "$src/vm" "$src/backend" "$src/store" "$src/metrics" "$src/pagefusion"
  "$src/balloon")
for d in "${product[@]}"; do [[ -d $d ]] || die "no product folder $d"; done
hits=$(grep -rnE '\b(system|popen|execlp|execvp|execvpe)\s*\(|/bin/sh|"sh"' "${product[@]}" || true)
check "no system/popen/exec*p or /bin/sh in the product code" test -z "$hits"
[[ -z $hits ]] || echo "$hits"
execs=$(grep -rn 'exec[lv]' "${product[@]}" | grep -v '^[^:]*:[0-9]*: *//' || true)
check "the only exec is execv(\"/proc/self/exe\", …) in spawn_daemon" \
  test "$(grep -c . <<<"$execs")" = 1 -a -n "$(grep 'sys/daemon.cpp:.*execv("/proc/self/exe", argv.data())' <<<"$execs")"
[[ $(grep -c . <<<"$execs") == 1 ]] || echo "$execs"
# Its callers pass string literals (and a controller's --connect URI as one word).
sites=$(grep -rn 'spawn_daemon(' "${product[@]}" | grep -vc 'sys/daemon\.[ch]pp')
fixed=$(grep -rhoE 'spawn_daemon\([^;]*\{"__[a-z]+"(, "--connect", uri)?\}\)' "${product[@]}" | grep -c .)
check "each of the $sites spawn_daemon calls passes fixed words" test "$sites" = "$fixed" -a "$sites" -ge 2

# 3. Completion as an unprivileged user, with a store it cannot create: candidates, no error,
# nothing written. Root is dropped to nobody, for whom the root-owned 0700 directory is closed;
# anyone else gets a directory without write permission.
locked=$T_TMP/locked
if [[ $(id -u) == 0 ]]; then
  mkdir -m 700 "$locked"
  as_user() { setpriv --reuid=nobody --regid=nogroup --clear-groups env VBOX_USER_HOME="$locked/vbox" "$@"; }
  who="as nobody"
else
  mkdir -m 500 "$locked"
  as_user() { env VBOX_USER_HOME="$locked/vbox" "$@"; }
  who="as $(id -un)"
fi
out=$(as_user "$bin" __complete 2 vboxmanage showvminfo "" 2>"$T_TMP/err")
check "completion $who offers the VMs" grep -qx off1 <<<"$out"
check "completion $who prints no error" test ! -s "$T_TMP/err"
out=$(as_user "$bin" __complete 3 vboxmanage metrics setup "" 2>"$T_TMP/err")
check "metrics completion $who offers objects" grep -qx host <<<"$out"
out=$(as_user "$bin" __complete 3 vboxmanage getextradata global "" 2>"$T_TMP/err")
check "extra-data completion $who offers enumerate, with no error" \
  test "$out" = enumerate -a ! -s "$T_TMP/err"
check "completion created no store" test -z "$(ls -A "$locked")"
# The command itself needs the store, and says so.
as_user "$bin" showvminfo off1 >/dev/null 2>"$T_TMP/err"
check "showvminfo $who fails with one clear line" \
  grep -q "^VBoxManage: error: cannot create settings directory" "$T_TMP/err"

finish
