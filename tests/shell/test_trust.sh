#!/usr/bin/env bash
# Trust boundaries, each reproduced the way an attacker or a user would meet it:
#  1. root's metrics collector and a Prometheus textfile directory another user can write: it
#     refuses the directory with one line, and writes nothing through the symlinks that user
#     planted there (they would have pointed root's writes at any file);
#  2. a settings store directory owned by another user, or writable by others, is refused with
#     one line naming it, and nothing in it is followed or written; a symlink planted as the
#     store file is not opened; completion reads no extra-data keys from it;
#  3. root refusing a user's store leaves it as it was: the user still uses it afterwards, and
#     root's completion leaves no file in it;
#  4. stdout: a write error fails the command with one line and exit 1 (/dev/full, a closed
#     stdout); a reader that goes away (`| head`) does not;
#  5. Ctrl-C, SIGTERM and SIGHUP end `metrics collect` by the signal (as VBoxManage ends),
#     after it stopped collecting what it set up.
# Parts 1-3 need root (the attacker is nobody, the victim root's process); 4-5 run as anyone.
#   test_trust.sh BIN DATA_DIR
set -u
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
bin=$1 data=$2
export LIBVIRT_DEFAULT_URI="test://$data/node.xml"
chmod 755 "$T_TMP"
export VBOX_USER_HOME=$T_TMP/home
# (a collector also exits by itself once its store is removed with T_TMP)
stop_collectors() { "$bin" metrics disable >/dev/null 2>&1; }
on_exit stop_collectors
one_line() { [[ $(grep -c . "$1") == 1 ]] && grep -q "$2" "$1"; }

# 4. Write errors on stdout.
rc=0
"$bin" list --long vms >/dev/full 2>"$T_TMP/err" || rc=$?
check "list --long vms >/dev/full exits 1" test "$rc" = 1
check "... with one line saying why" \
  grep -qx "VBoxManage: error: error writing to standard output: No space left on device" "$T_TMP/err"
rc=0
"$bin" showvminfo off1 >&- 2>"$T_TMP/err" || rc=$?
check "showvminfo with stdout closed exits 1" test "$rc" = 1
check "... with one line saying why" \
  grep -qx "VBoxManage: error: error writing to standard output: Bad file descriptor" "$T_TMP/err"
rc=0
"$bin" modifyvm off1 --memory 640 >&- 2>"$T_TMP/err" || rc=$?
check "a command that writes nothing to a closed stdout succeeds" test "$rc" = 0 -a ! -s "$T_TMP/err"
# A reader that leaves: collect stops at its next line and exits 0, quietly.
"$bin" metrics collect --period 1 host RAM/Usage/Used 2>"$T_TMP/err" | head -n 1 >/dev/null
rc=${PIPESTATUS[0]}
check "metrics collect | head -n 1 exits 0" test "$rc" = 0
check "... with nothing on stderr" test ! -s "$T_TMP/err"

# 5. Stop signals end metrics collect by the signal, once it stopped collecting: the wait status
# says "killed by signal N" (VBoxManageMetrics.cpp has no handler on Linux), not "exit 128+N",
# which a shell would print the same. A small parent reports the raw status; the collect gets
# the default SIGINT action a terminal gives (a background job of a script would ignore it).
enabled() { sqlite3 "$VBOX_USER_HOME/vboxkvm.db" "SELECT group_concat(enabled) FROM metric_setup WHERE object = 'host' AND base = 'RAM/Usage'"; }
# shellcheck disable=SC2016 # python's text, not the shell's
waitstatus='import os, signal, sys
pid = os.fork()
if pid == 0:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.execv(sys.argv[2], sys.argv[2:])
open(sys.argv[1] + ".pid", "w").write(str(pid))
st = os.waitpid(pid, 0)[1]
open(sys.argv[1], "w").write("killed by signal %d" % os.WTERMSIG(st) if os.WIFSIGNALED(st) else "exit %d" % os.WEXITSTATUS(st))'
for sig in INT TERM HUP; do
  rm -f "$T_TMP/status" "$T_TMP/status.pid"
  python3 -c "$waitstatus" "$T_TMP/status" "$bin" metrics collect --period 1 host RAM/Usage/Used \
    >"$T_TMP/collect.out" 2>&1 &
  parent=$!
  wait_for 10 grep -q "RAM/Usage/Used" "$T_TMP/collect.out" || die "collect printed no sample: $(cat "$T_TMP/collect.out")"
  check "collect (SIG$sig case) collects meanwhile" test "$(enabled)" = 1
  kill -s "$sig" "$(cat "$T_TMP/status.pid")"
  wait "$parent"
  check "SIG$sig ends metrics collect by the signal ($(cat "$T_TMP/status"))" \
    test "$(cat "$T_TMP/status")" = "killed by signal $(kill -l "$sig")"
  check "... after it stopped collecting" test "$(enabled)" = 0
  check "... and what it printed is all there" grep -Eq '^[0-9:.]{12} host       RAM/Usage/Used       [0-9]+ kB$' "$T_TMP/collect.out"
done

if [[ $(id -u) != 0 ]]; then
  echo "parts 1-3 need root (a process of root's against another user's files): not run"
  finish
  exit
fi
need_cmd setpriv
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
victim=$T_TMP/victim
echo precious >"$victim"
chmod 644 "$victim"
intact() { [[ $(cat "$victim") == precious && $(stat -c %a "$victim") == 644 ]]; }

# 1. The textfile directory belongs to nobody, who plants symlinks for the temporary names
# root's collector may use (the old name was vboxkvm.prom.<pid>.tmp) and for the file itself.
tf=$T_TMP/textfile
mkdir -m 755 "$tf"
chown nobody "$tf"
next=$(cat /proc/sys/kernel/ns_last_pid)
as_nobody bash -c "for ((p = $next; p < $next + 300; p++)); do ln -s '$victim' '$tf/vboxkvm.prom.'\$p.tmp; done; ln -s '$victim' '$tf/vboxkvm.prom'"
rc=0
VBOXKVM_METRICS_TEXTFILE_DIR=$tf "$bin" __collector --beats 2 >"$T_TMP/out" 2>"$T_TMP/err" || rc=$?
check "root's collector refuses a textfile directory nobody can write (exit $rc)" test "$rc" = 1
check "... with one line naming it and its owner" \
  one_line "$T_TMP/err" "the Prometheus textfile directory '$tf' belongs to nobody"
check "... and the victim file is untouched" intact
# A directory everybody can write (even with the sticky bit) is refused too.
sticky=$T_TMP/sticky
mkdir -m 1777 "$sticky"
rc=0
"$bin" __collector --beats 1 --textfile-dir "$sticky" >"$T_TMP/out" 2>"$T_TMP/err" || rc=$?
check "a world-writable textfile directory is refused" test "$rc" = 1
check "... saying so" one_line "$T_TMP/err" "is writable by all users"
# Root's own directory is used (a store of its own, so that no other collector holds the lock).
own=$T_TMP/own
mkdir -m 755 "$own"
VBOX_USER_HOME=$T_TMP/home-tf "$bin" __collector --beats 2 --textfile-dir "$own" >"$T_TMP/out" 2>"$T_TMP/err"
check "root's own textfile directory is used" grep -q "collector\[[0-9]*\]: started for" "$T_TMP/err"
check "... without complaint" test -z "$(grep -v 'started for\|stopped' "$T_TMP/err")"

# 2. A store directory of nobody's, with symlinks planted for the files root would write.
foreign=$T_TMP/foreign
mkdir -m 755 "$foreign"
chown nobody "$foreign"
for f in vboxkvm.db vboxkvm.lock vboxkvm-collector.lock vboxkvm-collector.log; do
  as_nobody ln -s "$victim" "$foreign/$f"
done
for cmd in "metrics setup host RAM/Usage" "modifyvm off1 --memory 600" "showvminfo off1"; do
  rc=0
  # shellcheck disable=SC2086 # our own words
  VBOX_USER_HOME=$foreign "$bin" $cmd >/dev/null 2>"$T_TMP/err" || rc=$?
  check "root refuses nobody's store directory: $cmd (exit $rc)" test "$rc" = 1
  check "... with one line naming it and the fix" \
    one_line "$T_TMP/err" "the settings directory '$foreign' belongs to nobody (uid [0-9]*), not to root (uid 0): use a directory of your own (VBOX_USER_HOME)"
done
out=$(VBOX_USER_HOME=$foreign "$bin" __complete 3 vboxmanage getextradata global '' 2>&1)
check "root's completion reads no extra-data keys from nobody's store directory" test "$out" = enumerate
check "no file was written through the planted symlinks" intact
open=$T_TMP/open
mkdir -m 777 "$open"
rc=0
VBOX_USER_HOME=$open "$bin" showvminfo off1 >/dev/null 2>"$T_TMP/err" || rc=$?
check "a store directory everybody can write is refused" test "$rc" = 1
check "... saying so" one_line "$T_TMP/err" "settings directory '$open' is writable by all users"
# In a directory of our own, a symlink as the store file is not opened either.
own_home=$T_TMP/own-home
mkdir -m 700 "$own_home"
ln -s "$victim" "$own_home/vboxkvm.db"
rc=0
VBOX_USER_HOME=$own_home "$bin" showvminfo off1 >/dev/null 2>"$T_TMP/err" || rc=$?
check "a symlink as the store file is not opened (exit $rc)" test "$rc" = 1
check "... saying so" one_line "$T_TMP/err" "cannot open settings store '$own_home/vboxkvm.db': Too many levels of symbolic links"
check "... and the victim is untouched" intact

# 3. Root (`sudo -E`) meets nobody's own store: refused, and nobody is not locked out; root's
#    completion does not read it either.
user_home=$T_TMP/user-home
mkdir -m 700 "$user_home"
chown nobody:nogroup "$user_home"
rc=0
VBOX_USER_HOME=$user_home "$bin" metrics setup host RAM/Usage >/dev/null 2>"$T_TMP/err" || rc=$?
check "root refuses the user's store (exit $rc)" test "$rc" = 1
check "... with no internal error" test -z "$(grep 'internal error' "$T_TMP/err")"
check "... and creates nothing in it" test -z "$(ls -A "$user_home")"
rc=0
as_nobody env VBOX_USER_HOME="$user_home" "$bin" metrics setup host RAM/Usage >/dev/null 2>"$T_TMP/err" || rc=$?
check "its owner still uses it afterwards (exit $rc)" test "$rc" = 0 -a ! -s "$T_TMP/err"
check "... and owns every file in it" test -z "$(find "$user_home" ! -user nobody)"
as_nobody env VBOX_USER_HOME="$user_home" "$bin" metrics disable >/dev/null 2>&1
# Root's Tab reads no keys from the user's store, and leaves no file of root's in it (a
# read-only SQLite connection still creates the -shm file).
as_nobody env VBOX_USER_HOME="$user_home" "$bin" setextradata global the-key v
out=$(VBOX_USER_HOME=$user_home "$bin" __complete 3 vboxmanage getextradata global '' 2>&1)
check "root's completion reads no extra-data keys from the user's store" test "$out" = enumerate
check "... and leaves no file of root's in it" test -z "$(find "$user_home" ! -user nobody)"
out=$(as_nobody env VBOX_USER_HOME="$user_home" "$bin" __complete 3 vboxmanage getextradata global '' 2>&1)
check "the owner's completion offers its keys" test "$out" = "enumerate
the-key"

finish
