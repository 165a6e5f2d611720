#!/usr/bin/env bash
# A settings store that is corrupt, truncated, from a newer schema, unreadable, read-only or on
# a full disk: every command that needs it fails with one clear error line and exit 1, and the
# store file is left byte for byte as it was. Real binary, libvirt's test driver.
#   test_store_faults.sh BIN DATA_DIR
# Unreadable/read-only/disk-full need root (a user to drop to, bind mounts, tmpfs); without
# root they are skipped with a message (exit 77 if nothing could run).
set -u
bin=$1 data=$2
tmp=$(mktemp -d)
mounts=()
cleanup() {
  local m
  for m in "${mounts[@]}"; do umount "$m" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
export LIBVIRT_DEFAULT_URI="test://$data/node.xml"
failures=0 ran=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }

# expect_fault NAME HOME WANT_RE [RUNNER...]: modifyvm, showvminfo and metrics setup each exit 1
# with exactly one stderr line matching WANT_RE, and the store file does not change.
expect_fault() {
  local name=$1 home=$2 want=$3 cmd out err rc before after
  shift 3
  ran=$((ran + 1))
  before=$(cat "$home/vboxkvm.db" 2>/dev/null | sha256sum)
  for cmd in "modifyvm off1 --memory 600" "showvminfo off1" "metrics setup host RAM/Usage"; do
    rc=0
    # shellcheck disable=SC2086 # cmd is our own word list
    out=$(VBOX_USER_HOME=$home "$@" "$bin" $cmd 2>"$tmp/err") || rc=$?
    err=$(cat "$tmp/err")
    if [[ $rc != 1 ]]; then
      fail "$name: '$cmd' exit $rc, want 1 (stderr: $err)"
    elif [[ $(wc -l <<<"$err") != 1 || ! $err =~ ^vboxmanage:\ error:\ $want ]]; then
      fail "$name: '$cmd' stderr should be one line matching /$want/: $err"
    else
      ok "$name: '$cmd' -> $err"
    fi
  done
  after=$(cat "$home/vboxkvm.db" 2>/dev/null | sha256sum)
  [[ $before == "$after" ]] && ok "$name: store unchanged" || fail "$name: the store file changed"
  if pgrep -f "vboxmanage __collector" >/dev/null && [[ -e $home/vboxkvm-collector.log ]]; then
    fail "$name: a collector was started for a broken store"
  fi
}

# A good store with settings in it.
good=$tmp/good
VBOX_USER_HOME=$good "$bin" modifyvm off1 --memory 512 ||
  { echo "cannot create a store"; exit 1; }
store_copy() { # store_copy NAME: a fresh copy of the good store (checkpointed), in its own dir
  mkdir -p "$tmp/$1"
  sqlite3 "$good/vboxkvm.db" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
  cp "$good/vboxkvm.db" "$tmp/$1/"
  chmod 700 "$tmp/$1"
  echo "$tmp/$1"
}

h=$(store_copy corrupt)
head -c 8192 /dev/urandom >"$h/vboxkvm.db"
expect_fault "garbage" "$h" "settings store '.*': the file is damaged or is not a vboxkvm store"

h=$(store_copy truncated)
truncate -s 3000 "$h/vboxkvm.db"
expect_fault "truncated" "$h" "settings store '.*': the file is damaged"

h=$(store_copy newer)
sqlite3 "$h/vboxkvm.db" "PRAGMA user_version = 99"
expect_fault "newer schema" "$h" "settings store schema is version 99, this build of vboxmanage supports up to"

if [[ $(id -u) == 0 ]]; then
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

  full=$tmp/full
  mkdir -p "$full"
  if mount -t tmpfs -o size=256k tmpfs "$full"; then
    mounts+=("$full")
    cp -a "$(store_copy fullsrc)" "$full/h"
    # Fill the disk: what is left cannot hold a WAL frame.
    dd if=/dev/zero of="$full/filler" bs=4k 2>/dev/null || true
    expect_fault "disk full" "$full/h" "settings store '.*': the disk is full"
    rm -f "$full/filler"
    [[ $(sqlite3 "$full/h/vboxkvm.db" "PRAGMA integrity_check") == ok ]] &&
      ok "disk full: integrity_check ok" || fail "disk full: the store is damaged"
  else
    fail "could not mount a tmpfs"
  fi
else
  echo "SKIP: unreadable, read-only and disk-full stores need root (setpriv, bind mounts, tmpfs)"
fi

((ran)) || exit 77
if ((failures)); then
  echo "$failures failure(s)"
  exit 1
fi
