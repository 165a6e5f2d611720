#!/usr/bin/env bash
# A settings store that is corrupt, truncated, from a newer schema, unreadable, read-only or on
# a full disk: every command that needs it fails with one clear error line and exit 1, and the
# store file is left byte for byte as it was. Real binary, libvirt's test driver.
#   test_store_faults.sh BIN DATA_DIR [files|privileged]
# files (the default): garbage, truncated and newer-schema stores. privileged: a store another
# user cannot read, a read-only bind mount and a full tmpfs; these need root (a user to drop to
# with setpriv, mounts) and skip (exit 77) without it.
set -u
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
bin=$1 data=$2 part=${3:-files}
case $part in
  files) ;;
  privileged)
    need_root "drops to another user (setpriv) and mounts a read-only bind mount and a tmpfs"
    need_cmd setpriv mount umount
    ;;
  *) die "unknown part '$part' (files or privileged)" ;;
esac
need_cmd sqlite3 sha256sum
mounts=()
unmount_all() {
  local m
  for m in "${mounts[@]}"; do umount "$m" 2>/dev/null; done
}
on_exit unmount_all
export LIBVIRT_DEFAULT_URI="test://$data/node.xml"

# expect_fault NAME HOME WANT_RE [RUNNER...]: modifyvm, showvminfo and metrics setup each exit 1
# with exactly one stderr line matching WANT_RE, and the store file does not change.
expect_fault() {
  local name=$1 home=$2 want=$3 cmd err rc before after
  shift 3
  before=$(sha256sum 2>/dev/null <"$home/vboxkvm.db")
  for cmd in "modifyvm off1 --memory 600" "showvminfo off1" "metrics setup host RAM/Usage"; do
    rc=0
    # shellcheck disable=SC2086 # cmd is our own word list
    VBOX_USER_HOME=$home "$@" "$bin" $cmd >/dev/null 2>"$T_TMP/err" || rc=$?
    err=$(cat "$T_TMP/err")
    if [[ $rc != 1 ]]; then
      fail "$name: '$cmd' exit $rc, want 1 (stderr: $err)"
    elif [[ $(wc -l <<<"$err") != 1 || ! $err =~ ^VBoxManage:\ error:\ $want ]]; then
      fail "$name: '$cmd' stderr should be one line matching /$want/: $err"
    else
      ok "$name: '$cmd' -> $err"
    fi
  done
  after=$(sha256sum 2>/dev/null <"$home/vboxkvm.db")
  check "$name: store unchanged" test -n "$before" -a "$before" = "$after"
  if pgrep -f "vboxmanage __collector" >/dev/null && [[ -e $home/vboxkvm-collector.log ]]; then
    fail "$name: a collector was started for a broken store"
  fi
}

# A good store with settings in it.
good=$T_TMP/good
VBOX_USER_HOME=$good "$bin" modifyvm off1 --memory 512 || die "cannot create a store"
store_copy() { # store_copy NAME: a fresh copy of the good store (checkpointed), in its own dir
  mkdir -p "$T_TMP/$1"
  sqlite3 "$good/vboxkvm.db" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
  cp "$good/vboxkvm.db" "$T_TMP/$1/"
  chmod 700 "$T_TMP/$1"
  echo "$T_TMP/$1"
}

if [[ $part == files ]]; then
  h=$(store_copy corrupt)
  head -c 8192 /dev/urandom >"$h/vboxkvm.db"
  expect_fault "garbage" "$h" "settings store '.*': the file is damaged or is not a vboxkvm store"

  h=$(store_copy truncated)
  truncate -s 3000 "$h/vboxkvm.db"
  expect_fault "truncated" "$h" "settings store '.*': the file is damaged"

  h=$(store_copy newer)
  sqlite3 "$h/vboxkvm.db" "PRAGMA user_version = 99"
  expect_fault "newer schema" "$h" "settings store schema is version 99, this build of vboxmanage supports up to"
else
  # Mounting may be denied even to root (a container without CAP_SYS_ADMIN): that is the
  # machine, not vboxmanage.
  mkdir "$T_TMP/probe"
  mount -t tmpfs -o size=64k tmpfs "$T_TMP/probe" 2>"$T_TMP/probe.err" ||
    skip "root cannot mount here: $(cat "$T_TMP/probe.err")"
  umount "$T_TMP/probe"

  h=$(store_copy unreadable)
  chmod 600 "$h/vboxkvm.db"
  # As an unprivileged user the root-owned 0700 directory cannot be read (root would bypass it).
  expect_fault "unreadable (as nobody)" "$h" "(cannot open settings store|cannot create settings directory|settings store '.*': it cannot be opened)" \
    setpriv --reuid=nobody --regid=nogroup --clear-groups

  h=$(store_copy readonly)
  if mount --bind "$h" "$h" && mounts+=("$h") && mount -o remount,ro,bind "$h"; then
    expect_fault "read-only mount" "$h" "settings store '.*': it is read-only here|cannot open settings store"
  else
    fail "could not make a read-only bind mount"
  fi

  full=$T_TMP/full
  mkdir -p "$full"
  if mount -t tmpfs -o size=256k tmpfs "$full"; then
    mounts+=("$full")
    cp -a "$(store_copy fullsrc)" "$full/h"
    # Fill the disk: what is left cannot hold a WAL frame.
    dd if=/dev/zero of="$full/filler" bs=4k 2>/dev/null || true
    expect_fault "disk full" "$full/h" "settings store '.*': the disk is full"
    rm -f "$full/filler"
    check "disk full: integrity_check ok" test "$(sqlite3 "$full/h/vboxkvm.db" "PRAGMA integrity_check")" = ok
  else
    fail "could not mount a tmpfs"
  fi
fi

finish
