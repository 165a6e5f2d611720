#!/bin/bash
# test_completion_bash.sh COMPLETION_SCRIPT BIN
#
# Drives completions/vboxmanage.bash the way bash does: sets COMP_WORDS, COMP_CWORD,
# COMP_LINE and COMP_POINT for a command line, calls the registered function and checks
# COMPREPLY. The script asks BIN (the built vboxmanage, put first in PATH under both names)
# through `__complete`; VM names come from libvirt's test driver, on a node with awkward
# names. Also checks that the completed commands and options are the ones BIN's help shows.
# Exit 77 (skipped) when bash-completion is not installed. tests/shell/test_completion_tmux.sh
# does the same in real interactive shells.
set -u
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

here=$(cd "$(dirname "$0")" && pwd)
script=${1:-$here/../../completions/vboxmanage.bash}
bin=${2:?usage: test_completion_bash.sh COMPLETION_SCRIPT BIN}
bash_completion=${BASH_COMPLETION_SCRIPT:-/usr/share/bash-completion/bash_completion}

[[ -r $bash_completion ]] || skip "$bash_completion not found (install bash-completion)"

tmp=$T_TMP

# A libvirt test-driver node with awkward names; "my vm" and "busy[x]" are running.
domain() { # domain NAME STATE (libvirt's runstate: 1 running, 5 shut off)
    printf '<domain type="test" xmlns:test="http://libvirt.org/schemas/domain/test/1.0">
<name>%s</name><memory unit="MiB">256</memory><vcpu>1</vcpu><os><type>hvm</type></os>
<test:runstate>%s</test:runstate></domain>\n' "$1" "$2"
}
{
    echo '<node>'
    domain 'my vm' 1
    domain plain 5
    domain 'it"s {odd}' 5
    domain myother 5
    domain 'busy[x]' 1
    echo '</node>'
} >"$tmp/odd.xml"
export LIBVIRT_DEFAULT_URI=test://$tmp/odd.xml
export VBOX_USER_HOME=$tmp/home

# The program under both names, first in PATH.
mkdir "$tmp/bin"
ln -s "$bin" "$tmp/bin/vboxmanage"
ln -s "$bin" "$tmp/bin/VBoxManage"
export PATH="$tmp/bin:$PATH"

# shellcheck source=/dev/null
. "$bash_completion"
# shellcheck source=/dev/null
. "$script"

# compopt only works inside a real completion; record what the script asks for.
compopt_args=""
compopt() { compopt_args+="$* "; }

func_for() { # the -F function registered for command $1
    local spec
    spec=$(complete -p "$1" 2>/dev/null) || return 1
    spec=${spec#*-F }
    printf '%s\n' "${spec%% *}"
}

# Split LINE into words as bash does for COMP_WORDS (default COMP_WORDBREAKS): at unquoted
# blanks, and around runs of unquoted '=' and ':', which become words of their own.
split_words() {
    local line=$1 c q="" w="" i
    WORDS=()
    for ((i = 0; i < ${#line}; i++)); do
        c=${line:i:1}
        if [[ -n $q ]]; then
            w+=$c
            [[ $c == "$q" ]] && q=""
        elif [[ $c == \\ ]]; then
            w+=$c${line:i+1:1}
            ((i++))
        elif [[ $c == \" || $c == \' ]]; then
            q=$c
            w+=$c
        elif [[ $c == ' ' ]]; then
            [[ -n $w ]] && WORDS+=("$w")
            w=""
        elif [[ $c == [=:] ]]; then
            [[ -n $w && $w != *[=:] ]] && WORDS+=("$w") && w=""
            w+=$c
        else
            [[ -n $w && $w == *[=:] ]] && WORDS+=("$w") && w=""
            w+=$c
        fi
    done
    WORDS+=("$w") # the word being completed, maybe empty
}

# complete LINE: COMPREPLY for the cursor at the end of LINE.
complete_line() {
    local line=$1 func
    split_words "$line"
    COMP_WORDS=("${WORDS[@]}")
    COMP_CWORD=$((${#WORDS[@]} - 1))
    COMP_LINE=$line
    COMP_POINT=${#line}
    COMPREPLY=()
    compopt_args=""
    func=$(func_for "${WORDS[0]##*/}") || func=$(func_for vboxmanage)
    "$func" "${WORDS[0]}" "${WORDS[COMP_CWORD]}" "${WORDS[COMP_CWORD - 1]}"
}

sorted() { printf '%s\n' "$@" | LC_ALL=C sort; }

# expect LINE [WORD...]: COMPREPLY must be exactly the given words (in any order).
expect() {
    local line=$1
    shift
    complete_line "$line"
    local got want w words=()
    # The candidates come back shell-quoted; compare the words they stand for.
    for w in "${COMPREPLY[@]}"; do
        eval "words+=($w)"
    done
    got=$(sorted "${words[@]}")
    want=$(sorted "$@")
    if [[ $got == "$want" ]]; then
        ok "'$line'"
    else
        fail "'$line'"
        echo "  expected: $(printf '[%s] ' "$@")"
        echo "  got:      $(printf '[%s] ' "${COMPREPLY[@]}")"
    fi
}

check "registered for vboxmanage" eval "func_for vboxmanage >/dev/null"
check "registered for VBoxManage" eval "func_for VBoxManage >/dev/null"

commands=(list showvminfo modifyvm startvm controlvm metrics pagefusion getextradata setextradata guestproperty balloonctrl help)
modifyvm_opts=(--memory --page-fusion --cpus --large-pages --guest-memory-balloon
    --free-page-reporting --balloon-deflate-on-oom)
showvminfo_opts=(--details --machinereadable --log --password-id --password --json)
start_types=(headless gui separate capture)
controlvm_subs=(pause resume reset poweroff savestate acpipowerbutton shutdown guestmemoryballoon)
all_vms=("my vm" plain 'it"s {odd}' myother 'busy[x]')
running_vms=("my vm" 'busy[x]')
stopped_vms=(plain 'it"s {odd}' myother)

# Commands and global options.
expect "vboxmanage " "${commands[@]}"
expect "VBoxManage " "${commands[@]}"
expect "vboxmanage mo" modifyvm
expect "vboxmanage -q " "${commands[@]}"
expect "vboxmanage -q --" --connect --nologo --version --detailed-progress --settingspw --settingspwfile
expect "vboxmanage -" --connect --nologo --version --detailed-progress --settingspw --settingspwfile -c -q -V -d
# --settingspw/--settingspwfile take the next word as their value: nothing is offered for it.
expect "vboxmanage --settingspw "
expect "vboxmanage -c " # a URI: nothing to offer
expect "vboxmanage -c qemu:///system s" showvminfo startvm setextradata
expect "vboxmanage help " "${commands[@]:0:${#commands[@]}-1}" # not help again

# balloonctrl: VBoxBalloonCtrl's options, the policy names, status's options and VMs.
expect "vboxmanage balloonctrl --balloon-p" --balloon-policy
expect "vboxmanage balloonctrl --balloon-policy " vboxkvm vbox proxmox mom
expect "vboxmanage balloonctrl --balloon-mode " idle demand
expect "vboxmanage balloonctrl status " --json --explain
expect "vboxmanage balloonctrl status --explain " "${all_vms[@]}"

# list
expect "vboxmanage list " vms runningvms ostypes hostifs bridgedifs hostonlyifs natnetworks natnets hostinfo systemproperties dhcpservers --long --multiple --sorted
expect "vboxmanage list --long r" runningvms
expect "vboxmanage list --s" --sorted

# modifyvm: VM, then options (dashed spellings only), on/off values, nothing for numbers.
expect "vboxmanage modifyvm " "${all_vms[@]}"
expect "vboxmanage modifyvm plain " "${modifyvm_opts[@]}"
expect "vboxmanage modifyvm plain --" "${modifyvm_opts[@]}"
expect "vboxmanage modifyvm plain --page" --page-fusion
expect "vboxmanage modifyvm plain --page-fusion " on off
expect "vboxmanage modifyvm plain --large-pages o" on off
expect "vboxmanage modifyvm plain --largepages of" off
expect "vboxmanage modifyvm plain --large-pages=o" on off
expect "vboxmanage modifyvm plain --memory "
expect "vboxmanage modifyvm plain --memory=" # nothing after --memory=
expect "vboxmanage modifyvm plain --guest-memory-balloon "
expect "vboxmanage modifyvm plain --memory 2048 --" "${modifyvm_opts[@]}"
expect "vboxmanage modifyvm plain --page-fusion on --lar" --large-pages

# showvminfo: VM names (spaces, quotes), then options.
expect "vboxmanage showvminfo " "${all_vms[@]}"
expect "vboxmanage showvminfo my" "my vm" myother
# ... quoted the way the word was begun, and never marked as files (no compopt -o filenames,
# which appends '/' to a candidate naming a directory here).
complete_line "vboxmanage showvminfo it"
check "a name with quotes, braces and spaces is backslash-quoted" \
    test "${COMPREPLY[*]}" = 'it\"s\ \{odd\}'
complete_line 'vboxmanage showvminfo "my v'
check 'a name begun with " is completed inside "..."' test "${COMPREPLY[*]}" = '"my vm"'
complete_line "vboxmanage showvminfo 'it"
check "a name begun with ' is completed inside '...'" test "${COMPREPLY[*]}" = "'it\"s {odd}'"
check "candidates are not marked as file names" test -z "$compopt_args"
expect 'vboxmanage showvminfo "my v' "my vm"
expect 'vboxmanage showvminfo my\ v' "my vm"
expect "vboxmanage showvminfo it" 'it"s {odd}'
expect "vboxmanage showvminfo nosuch"
expect "vboxmanage showvminfo plain " "${showvminfo_opts[@]}"
expect "vboxmanage showvminfo plain --m" --machinereadable
expect "vboxmanage showvminfo --details " "${all_vms[@]}"

# startvm: VMs that are not running (list vms minus list runningvms), several of them;
# --type and its values anywhere.
expect "vboxmanage st" startvm
expect "vboxmanage startvm " "${stopped_vms[@]}"
expect "vboxmanage startvm my" myother
expect "vboxmanage startvm b"
expect "vboxmanage startvm plain " 'it"s {odd}' myother # not plain again
expect "vboxmanage startvm plain -" --type --force --dry-run
expect "vboxmanage startvm plain --type " "${start_types[@]}"
expect "vboxmanage startvm --type g" gui
expect "vboxmanage startvm --type=s" separate
expect "vboxmanage startvm -type h" headless
expect "vboxmanage startvm --type gui " "${stopped_vms[@]}"
expect "vboxmanage startvm --type gui pl" plain

# metrics: the subcommand, its options before the object, then objects and metric names.
expect "vboxmanage metrics " collect disable enable list query setup
expect "vboxmanage metrics setup -" --list --period --samples
expect "vboxmanage metrics collect --list -" --list --period --samples --detach
expect "vboxmanage metrics setup --period "
# pagefusion: the subcommand, then --json or on/off.
expect "vboxmanage pagefusion " manage status
expect "vboxmanage pagefusion status " --json
expect "vboxmanage pagefusion manage " on off
expect "vboxmanage pagefusion manage o" on off
expect "vboxmanage pagefusion manage on "
expect "vboxmanage metrics setup host RAM/" RAM/Usage RAM/VMM
expect "vboxmanage metrics query host RAM/Usage/Used,RAM/VMM/Sh" RAM/Usage/Used,RAM/VMM/Shared \
    RAM/Usage/Used,RAM/VMM/Shared:avg RAM/Usage/Used,RAM/VMM/Shared:min \
    RAM/Usage/Used,RAM/VMM/Shared:max

# getextradata / setextradata: "global" or a VM; then "enumerate" (getextradata) and the keys
# that scope has in the store (read, never created: there is none until the first set). The
# VM scopes are not tried here: this node's domains get a new UUID on every connection.
expect "vboxmanage getextradata " global "${all_vms[@]}"
expect "vboxmanage getextradata global " enumerate
check "completion created no store" test ! -e "$tmp/home"
for kv in "VBoxInternal/Guest/BalloonEnabled 1" "a key v"; do
    "$bin" setextradata global "${kv% *}" "${kv##* }" || die "setextradata failed"
done
expect "vboxmanage setextradata g" global
expect "vboxmanage getextradata global " enumerate VBoxInternal/Guest/BalloonEnabled "a key"
expect "vboxmanage setextradata global V" VBoxInternal/Guest/BalloonEnabled
complete_line "vboxmanage setextradata global a"
check "a key with a space is completed quoted" test "${COMPREPLY[*]}" = 'a\ key'
expect "vboxmanage getextradata plain " enumerate
expect "vboxmanage setextradata global VBoxInternal/Guest/BalloonEnabled "

# controlvm: a running VM, then the subcommand; after guestmemoryballoon N, --wait.
expect "vboxmanage co" controlvm
expect "vboxmanage controlvm " "${running_vms[@]}"
expect "vboxmanage controlvm my" "my vm"
expect 'vboxmanage controlvm "my v' "my vm"
expect "vboxmanage controlvm pl"
expect "vboxmanage controlvm busy[x] " "${controlvm_subs[@]}"
expect "vboxmanage controlvm busy[x] p" pause poweroff
expect 'vboxmanage controlvm my\ vm gu' guestmemoryballoon
expect 'vboxmanage controlvm "my vm" a' acpipowerbutton
expect "vboxmanage controlvm busy[x] guestmemoryballoon "
expect "vboxmanage controlvm busy[x] guestmemoryballoon 512 " --wait
expect "vboxmanage controlvm busy[x] guestmemoryballoon 0x200 --w" --wait
expect "vboxmanage controlvm busy[x] guestmemoryballoon 512 --wait "
expect "vboxmanage controlvm busy[x] guestmemoryballoon 512 --wait 30 "
expect "vboxmanage controlvm busy[x] poweroff "
expect "vboxmanage controlvm busy[x] shutdown " --force
expect "vboxmanage controlvm busy[x] shutdown --force "
expect "vboxmanage controlvm busy[x] pause --"
expect "vboxmanage -q controlvm busy[x] " "${controlvm_subs[@]}"

# The connection given on the line is the one whose VMs are offered (test:///default has
# one running domain, "test"), however it is spelled and quoted.
expect "vboxmanage -c test:///default showvminfo " test
expect "vboxmanage -q --connect=test:///default modifyvm t" test
expect "vboxmanage -ctest:///default controlvm " test
expect "vboxmanage -c 'test:///default' startvm "
expect 'vboxmanage -c "test:///default" showvminfo t' test
expect "vboxmanage modifyvm pl" plain

# Nothing on the line is ever evaluated.
# shellcheck disable=SC2016 # the $(...) is for the completion script, not for us
expect 'vboxmanage -c "$(touch '"$tmp"'/ran)" showvminfo p'
check "no command substitution ran" test ! -e "$tmp/ran"

# Against the real program: the completed words are the ones its help shows.
if true; then
    help_flags() { # the --flags of the synopsis lines of `BIN help $1`
        IPRT_SCREEN_WIDTH=300 "$bin" help "$1" 2>&1 | grep -E "^  [^ ]+ $1 " |
            tr -c '[:alnum:]-' '\n' | grep -E '^--[[:alpha:]]' | LC_ALL=C sort -u
    }
    same() { [[ $(sorted "${@:2}") == "$(printf '%s\n' "$1")" ]]; }
    help_cmds=$(IPRT_SCREEN_WIDTH=300 "$bin" help | awk '
        /^Usage/ { u = 1; next }
        u && p == "" && /^  [^ ]/ { p = $1; next }
        p != "" && $1 == p && $2 !~ /^\[/ { print $2 }' | LC_ALL=C sort -u)
    check "commands = those of '$bin help' (+ help)" \
        same "$(printf '%s\nhelp\n' "$help_cmds" | LC_ALL=C sort)" "${commands[@]}"
    check "modifyvm options = the synopsis of '$bin help modifyvm'" \
        same "$(help_flags modifyvm)" "${modifyvm_opts[@]}"
    check "showvminfo options = the synopsis of '$bin help showvminfo'" \
        same "$(help_flags showvminfo)" "${showvminfo_opts[@]}"
    check "list options = the synopsis of '$bin help list'" \
        same "$(help_flags list)" --long --multiple --sorted
    check "startvm options = the synopsis of '$bin help startvm'" \
        same "$(help_flags startvm)" --dry-run --force --type
    check "startvm types = the synopsis of '$bin help startvm'" \
        same "$(IPRT_SCREEN_WIDTH=300 "$bin" help startvm 2>&1 | grep -E '^  [^ ]+ startvm ' |
            sed 's/.*--type=//; s/\].*//' | tr -c '[:alnum:]' '\n' | grep . | LC_ALL=C sort -u)" \
        "${start_types[@]}"
    check "metrics options = the synopses of '$bin help metrics'" \
        same "$(help_flags metrics)" --detach --json --list --period --samples
    check "pagefusion options = the synopses of '$bin help pagefusion'" \
        same "$(help_flags pagefusion)" --json
    check "controlvm options = the synopsis of '$bin help controlvm'" \
        same "$(help_flags controlvm)" --force --wait
    check "controlvm subcommands = the synopses of '$bin help controlvm'" \
        same "$(IPRT_SCREEN_WIDTH=300 "$bin" help controlvm 2>&1 |
            awk '$2 == "controlvm" { sub(/^[^>]*> /, ""); print $1 }' | LC_ALL=C sort -u)" \
        "${controlvm_subs[@]}"
fi

finish
