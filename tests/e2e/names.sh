#!/usr/bin/env bash
# VM names with quotes, unicode, '%' and printf directives, SQL metacharacters and spaces come
# back byte for byte from every command: list, showvminfo (human, machine-readable, JSON),
# modifyvm, startvm, controlvm, metrics and completion. A name with a newline is tried too.
. "$(dirname "$0")/common.sh"
e2e_start_libvirtd
e2e_guest_image
vbm() { "$VBM" --connect "$LIBVIRT_URI" "$@"; }

# define_named NAME: a tiny guest with exactly that name (XML-escaped by python); sets
# NAMED_UUID. Not to be called in $(...): its cleanup hook must be registered in this shell.
define_named() {
  local uuid
  uuid=$(python3 - "$1" "$GUEST_KERNEL" "$GUEST_INITRD_BALLOON" 2>"$E2E_TMP/named.xml" <<'EOF'
import sys, uuid
from xml.sax.saxutils import escape
name, kernel, initrd = sys.argv[1:]
u = str(uuid.uuid4())
print(f"""<domain type='qemu'><name>{escape(name)}</name><uuid>{u}</uuid>
<memory unit='MiB'>256</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='q35'>hvm</type><kernel>{kernel}</kernel><initrd>{initrd}</initrd>
<cmdline>console=ttyS0</cmdline></os><features><acpi/></features>
<devices><memballoon model='virtio'><stats period='2'/></memballoon></devices></domain>""", file=sys.stderr)
print(u)
EOF
  ) || return 1
  virsh -q -c "$LIBVIRT_URI" define "$E2E_TMP/named.xml" >/dev/null 2>"$E2E_TMP/define.err" || return 1
  e2e_on_cleanup "virsh -q -c '$LIBVIRT_URI' destroy $uuid >/dev/null 2>&1; virsh -q -c '$LIBVIRT_URI' undefine $uuid >/dev/null 2>&1"
  NAMED_UUID=$uuid
}

tag=$E2E_PID
names=("it's \"quoted\" $tag" "ünïcødé-名前-$tag" "100% %s %n %x $tag" "x'; DROP TABLE vm; -- $tag"
  "spaces  and	tab $tag" "{braces} [x] \$HOME \`id\` $tag")
nl_name=$'line\nbreak '"$tag"
if define_named "$nl_name"; then
  names+=("$nl_name")
  e2e_log "libvirt accepts a newline in a name: tested too"
else
  e2e_log "libvirt refuses a newline in a name: $(grep . "$E2E_TMP/define.err" | tail -1)"
fi

checked=0
for name in "${names[@]}"; do
  if [[ $name != "$nl_name" ]]; then
    define_named "$name" || fail "could not define '$name': $(cat "$E2E_TMP/define.err")"
    uuid=$NAMED_UUID
  else
    uuid=$(virsh -q -c "$LIBVIRT_URI" domuuid "$name")
  fi
  assert_exit 0 vbm list vms
  assert_contains "$OUT" "\"$name\" {$uuid}" "list vms"
  assert_exit 0 vbm list --sorted --long vms
  assert_contains "$OUT" "$name"
  assert_exit 0 vbm modifyvm "$name" --memory 300 --page-fusion on
  assert_exit 0 vbm showvminfo "$name"
  assert_contains "$OUT" "Name:                        $name"
  assert_exit 0 vbm showvminfo "$name" --json
  python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["name"]==sys.argv[1], d["name"]' "$name" <<<"$OUT" ||
    fail "showvminfo --json name differs for '$name'"
  assert_exit 0 vbm showvminfo "$uuid" --machinereadable
  esc=${name//\\/\\\\}
  esc=${esc//\"/\\\"} # VirtualBox escapes \ and " in machine-readable values
  assert_contains "$OUT" "name=\"$esc\"" "machine-readable name"
  assert_contains "$OUT" "memory=300"
  # Completion offers the name raw (the shell adaptors quote it).
  assert_exit 0 "$VBM" __complete 4 vboxmanage --connect "$LIBVIRT_URI" showvminfo "${name:0:4}"
  if [[ $name == *$'\n'* ]]; then
    assert_not_contains "$OUT" "$name" "a name with a newline cannot be a completion line"
  else
    grep -qxF -- "$name" <<<"$OUT" || fail "__complete did not offer '$name': $OUT"
  fi
  checked=$((checked + 1))
done

# The running commands, on the two hardest names.
for name in "${names[0]}" "${names[3]}"; do
  assert_exit 0 vbm startvm "$name" --type headless
  assert_contains "$OUT" "VM \"$name\" has been successfully started."
  wait_until 30 bash -c "virsh -q -c '$LIBVIRT_URI' dommemstat \"\$1\" | grep -q '^last_update [1-9]'" _ "$name" ||
    fail "'$name' never reported balloon statistics"
  assert_exit 0 vbm controlvm "$name" guestmemoryballoon 32 --wait 30
  assert_exit 0 vbm list runningvms
  assert_contains "$OUT" "\"$name\""
  assert_exit 0 vbm metrics list "$name" RAM/Usage/Used
  assert_contains "$OUT" "$name"
  assert_exit 0 vbm controlvm "$name" poweroff
done
assert_exit 1 vbm showvminfo "${names[3]/DROP/DR0P}"
assert_contains "$ERR" "Could not find a registered machine named"
[[ $(sqlite3 "$VBOX_USER_HOME/vboxkvm.db" "PRAGMA integrity_check") == ok ]] || fail "store integrity"
assert_eq "${#names[@]}" "$(sqlite3 "$VBOX_USER_HOME/vboxkvm.db" "SELECT count(*) FROM vm WHERE name LIKE '%$tag'")" \
  "every odd name is in the store once"
e2e_log "$checked odd names round-tripped through list, showvminfo (3 formats), modifyvm, completion; 2 through startvm, controlvm and metrics"
