#!/usr/bin/env bash
# Golden CLI test: runs each line of NAME.in through the real binary (libvirt's test driver with
# our node XML, a fresh store) and compares stdout+stderr+exit code with NAME.out.
# VBM_TEST_ACCEPT=1 rewrites the .out file instead (review the diff before committing).
set -euo pipefail
bin=$1 in=$2 data=$3
out=${in%.in}.out
home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
export VBOX_USER_HOME=$home/store LIBVIRT_DEFAULT_URI="test://$data/node.xml" IPRT_SCREEN_WIDTH=80
actual=$home/actual
: >"$actual"
while IFS= read -r line || [ -n "$line" ]; do
  [ -z "$line" ] && continue
  case $line in \#*) continue ;; esac
  # The .in lines are shell words written by us; eval splits them with quoting honoured.
  args=()
  eval "args=($line)"
  printf '$ VBoxManage %s\n' "$line" >>"$actual"
  rc=0
  ("$bin" "${args[@]}") >>"$actual" 2>&1 || rc=$?
  printf '## Exit code: %s\n\n' "$rc" >>"$actual"
done <"$in"
# Time stamps are the moment the test ran.
sed -E -i 's/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.([0-9]{9}|[0-9]{3}Z)/<time>/g' "$actual"
# Guest property timestamps (nanoseconds since the epoch) too.
sed -E -i 's/([Tt]imestamp: )[0-9]+/\1<ns>/g' "$actual"
if [ "${VBM_TEST_ACCEPT:-}" = 1 ]; then
  cp "$actual" "$out"
  echo "rewrote $out"
  exit 0
fi
diff -u "$out" "$actual"
