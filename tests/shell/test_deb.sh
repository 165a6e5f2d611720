#!/bin/bash
# test_deb.sh BUILD_DIR SOURCE_DIR
#
# Builds the .deb from BUILD_DIR (cpack, into a temp directory), installs it into the real
# system with dpkg -i, and checks what a user gets: vboxmanage and VBoxManage run, every man
# page is found by man and renders without warnings, and Tab works in real bash and zsh from
# the installed files (test_completion_tmux.sh --prefix /usr). Then removes the package.
# Meant for CI's throwaway machine: it needs root, and exits 77 (skipped) without it.
set -u
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

build=${1:?usage: test_deb.sh BUILD_DIR SOURCE_DIR}
src=${2:?usage: test_deb.sh BUILD_DIR SOURCE_DIR}
here=$(cd "$(dirname "$0")" && pwd)

need_root "installs a .deb into the system with dpkg -i (CI does)"
need_cmd cpack dpkg dpkg-deb dpkg-shlibdeps man

tmp=$T_TMP
was_installed=""
dpkg-query -W -f='${Status}' vboxkvm 2>/dev/null | grep -q "install ok installed" && was_installed=1
remove_package() {
    if [[ -z $was_installed ]] && dpkg-query -W vboxkvm >/dev/null 2>&1; then
        dpkg -r vboxkvm >/dev/null || fail "dpkg -r vboxkvm"
    fi
}
on_exit remove_package

if ! cpack -G DEB --config "$build/CPackConfig.cmake" -B "$tmp/pkg" >"$tmp/cpack.log" 2>&1; then
    cat "$tmp/cpack.log"
    die "cpack"
fi
deb=$(echo "$tmp"/pkg/vboxkvm_*.deb)
check "cpack built $(basename "$deb")" test -f "$deb"
depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
for lib in libvirt0 libsqlite3-0 libfmt libpugixml libstdc++6 libc6; do
    check "Depends names $lib" grep -q "$lib" <<<"$depends"
done

if ! dpkg -i "$deb" >"$tmp/dpkg.log" 2>&1; then
    cat "$tmp/dpkg.log"
    die "dpkg -i"
fi
ok "dpkg -i $(basename "$deb")"

check "vboxmanage is /usr/bin/vboxmanage" test "$(command -v vboxmanage)" = /usr/bin/vboxmanage
check "vboxmanage --version" eval 'vboxmanage --version | grep -Eq "^[0-9]"'
check "VBoxManage --version" eval 'VBoxManage --version | grep -Eq "^[0-9]"'
check "VBoxManage names itself in messages" eval \
    'VBoxManage nosuchcommand 2>&1 | grep -q "^VBoxManage: error: Invalid command"'

check "man -w vboxmanage" test "$(man -w vboxmanage)" = /usr/share/man/man1/vboxmanage.1
check "man -w VBoxManage" test -n "$(man -w VBoxManage)"
pages=$(dpkg -L vboxkvm | grep '/man1/.*\.1$')
for scd in "$src"/man/*.1.scd; do
    page=/usr/share/man/man1/$(basename "${scd%.scd}")
    check "$page installed" grep -qx "$page" <<<"$pages"
done
for page in $pages; do
    name=$(basename "${page%.1}")
    check "man $name renders" eval "MANWIDTH=80 man $name 2>/dev/null | grep -q ."
    warnings=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
    check "man -l $page: no warnings${warnings:+ ($warnings)}" test -z "$warnings"
done

for unit in "$src"/systemd/*.service; do
    check "systemd unit $(basename "$unit") installed" \
        grep -qx "/usr/lib/systemd/system/$(basename "$unit")" <<<"$(dpkg -L vboxkvm)"
done
check "bash completion installed" test -f /usr/share/bash-completion/completions/vboxmanage
check "bash completion installed for VBoxManage" \
    test -e /usr/share/bash-completion/completions/VBoxManage
for sh in bash zsh; do
    check "Tab in $sh, from the installed files" \
        bash "$here/test_completion_tmux.sh" "$sh" --prefix /usr "$src/tests/data"
done

if [[ -z $was_installed ]]; then
    check "dpkg -r vboxkvm" eval 'dpkg -r vboxkvm >/dev/null'
    check "dpkg -r removes the program" test ! -e /usr/bin/vboxmanage
    check "dpkg -r removes the completion" \
        test ! -e /usr/share/bash-completion/completions/VBoxManage
else
    echo "note: vboxkvm was installed before this test; it stays installed (this build's version)"
fi

finish
