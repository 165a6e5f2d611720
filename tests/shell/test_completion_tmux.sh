#!/bin/bash
# test_completion_tmux.sh SHELL (--build BUILD_DIR | --prefix PREFIX) DATA_DIR
#
# Presses Tab in a real interactive SHELL (bash with bash-completion, or zsh with compinit)
# running in tmux, and checks what the screen shows. The completion scripts and the program
# are the INSTALLED ones: from `cmake --install BUILD_DIR` into a temp prefix, or already
# installed under PREFIX (e.g. /usr from the .deb). VMs come from libvirt's test driver on
# DATA_DIR/node.xml (LIBVIRT_DEFAULT_URI), with a temp VBOX_USER_HOME.
# Exit 77 (skipped) when tmux, the shell or bash-completion is missing.
set -u
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

shell=${1:?usage: test_completion_tmux.sh bash|zsh (--build DIR|--prefix DIR) DATA_DIR}
mode=${2:?} where=${3:?} data=${4:?}
data=$(cd "$data" && pwd)
bash_completion=${BASH_COMPLETION_SCRIPT:-/usr/share/bash-completion/bash_completion}

need_cmd tmux "$shell"
[[ $shell != bash || -r $bash_completion ]] || skip "$bash_completion not found (install bash-completion)"

tmp=$T_TMP
session=vbm-complete-$shell-$$
export TMUX_TMPDIR=$tmp # a tmux server of our own, whatever else runs
stop_tmux() { tmux kill-server 2>/dev/null; }
on_exit stop_tmux

case $mode in
    --build)
        prefix=$tmp/prefix
        cmake --install "$where" --prefix "$prefix" >"$tmp/install.log" 2>&1 || {
            cat "$tmp/install.log"
            die "cmake --install $where"
        }
        ;;
    --prefix) prefix=$where ;;
    *) die "unknown mode $mode" ;;
esac
[[ -x $prefix/bin/vboxmanage ]] || die "no $prefix/bin/vboxmanage"

# The shell's startup file: a plain prompt, completion from the installed files only. Under
# a temp prefix the shells are told where those are; under /usr they must find them alone.
mkdir -p "$tmp/home"
xdg_data_dirs=/usr/local/share:/usr/share
fpath_line=""
if [[ $mode == --build ]]; then
    xdg_data_dirs=$prefix/share:$xdg_data_dirs
    fpath_line="fpath=('$(dirname "$(find "$prefix/share/zsh" -name _vboxmanage | head -n1)")' \$fpath)"
fi
if [[ $shell == bash ]]; then
    cat >"$tmp/rc" <<EOF
PS1='READY\$ '
. '$bash_completion'
bind 'set show-all-if-ambiguous on'
bind 'set completion-query-items 0'
bind 'set page-completions off'
EOF
    start=(bash --noprofile --rcfile "$tmp/rc" -i)
else
    mkdir -p "$tmp/zdot"
    cat >"$tmp/zdot/.zshrc" <<EOF
$fpath_line
autoload -Uz compinit && compinit -u -d '$tmp/zcompdump'
PS1='READY%# '
unsetopt beep list_ambiguous  # list on the first Tab, as bash's show-all-if-ambiguous
EOF
    start=(zsh -i)
fi

tmux -f /dev/null new-session -d -s "$session" -x 160 -y 50 \
    env -i HOME="$tmp/home" TERM=screen PATH="$prefix/bin:/usr/bin:/bin" \
    XDG_DATA_DIRS="$xdg_data_dirs" ZDOTDIR="$tmp/zdot" \
    LIBVIRT_DEFAULT_URI="test://$data/node.xml" VBOX_USER_HOME="$tmp/vbox" \
    "${start[@]}"

screen() { tmux capture-pane -p -N -t "$session"; }

# shows REGEX: the screen shows a line matching REGEX.
shows() { screen | grep -Eq -- "$1"; }
# wait_screen REGEX: the screen shows a line matching REGEX within 10 s.
wait_screen() { wait_for 10 shows "$1"; }

# fail_screen MSG: a failed check, with what the screen showed.
fail_screen() {
    fail "$*"
    echo "--- screen:"
    screen | sed '/^$/d'
    echo "---"
}

# fresh: an empty screen and an empty prompt.
fresh() {
    tmux send-keys -t "$session" C-c
    tmux send-keys -t "$session" C-u "clear" Enter
    wait_screen '^READY[$%#] $' || fail_screen "no prompt"
}

# tab LINE REGEX [NOT_REGEX]: types LINE, presses Tab; the screen must then show REGEX (and
# never NOT_REGEX).
tab() {
    local line=$1 want=$2 not=${3:-}
    fresh
    tmux send-keys -t "$session" -l "$line"
    tmux send-keys -t "$session" Tab
    if ! wait_screen "$want"; then
        fail_screen "'$line<Tab>' should show /$want/"
    elif [[ -n $not ]] && shows "$not"; then
        fail_screen "'$line<Tab>' should not show /$not/"
    else
        ok "'$line<Tab>' shows /$want/"
    fi
}

wait_screen '^READY[$%#] $' || fail_screen "$shell did not start"

# Command names, for both names of the program.
# Twelve commands take two rows, listed down the columns.
tab "vboxmanage " 'balloonctrl +getextradata +help +metrics +pagefusion +showvminfo' '__complete'
wait_screen 'controlvm +guestproperty +list +modifyvm +setextradata +startvm' ||
    fail_screen "'vboxmanage <Tab>' should show the second row of commands"
tab "VBoxManage s" 'setextradata +showvminfo +startvm'
tab "vboxmanage modi" '^READY[$%#] vboxmanage modifyvm $'

# modifyvm: options (dashed spellings), on/off values from the option table.
# (seven options: the shells' column layouts differ, so each is looked for on its own line)
tab "vboxmanage modifyvm off1 --" '--free-page-reporting' 'pagefusion|largepages'
tab "vboxmanage modifyvm off1 --" '--balloon-deflate-on-oom' 'pagefusion|largepages'
tab "vboxmanage modifyvm off1 --" '--guest-memory-balloon' \
    'pagefusion|largepages'
tab "vboxmanage modifyvm off1 --page-fusion " '^off +on *$'
tab "vboxmanage modifyvm off1 --largepages of" 'vboxmanage modifyvm off1 --largepages off $'
tab "vboxmanage modifyvm off1 --large-pages=o" '^off +on *$'

# A VM name with spaces is completed quoted, and the completed line runs.
tab "vboxmanage showvminfo nof" 'vboxmanage showvminfo nofusion\\ with\\ space $'
tmux send-keys -t "$session" Enter
if wait_screen '^Name: +nofusion with space$'; then
    ok "the completed showvminfo line runs"
else
    fail_screen "the completed showvminfo line should run"
fi
tab 'vboxmanage showvminfo "nof' 'vboxmanage showvminfo "nofusion with space" $'

# Which VMs: running ones for controlvm, those that can start for startvm.
tab "vboxmanage controlvm " '^os1 +paused1 +run1 *$' 'off1|saved1|nofusion'
tab "vboxmanage controlvm run1 p" '^pause +poweroff *$'
tab "vboxmanage controlvm run1 guestmemoryballoon 512 " 'guestmemoryballoon 512 --wait $'
tab "VBoxManage startvm " 'nofusion\\? with\\? space +off1 +saved1' 'run1|paused1' # zsh lists quoted
tab "vboxmanage startvm --type " '^capture +gui +headless +separate *$'

# The connection given on the line: test:///default has one running domain, "test".
tab "vboxmanage -c test:///default controlvm " 'vboxmanage -c test:///default controlvm test $'

tab "vboxmanage list " 'hostonlyifs .*runningvms'

# metrics: subcommands, objects (host and running VMs), base names for setup.
tab "vboxmanage metrics " 'collect +disable +enable +list +query +setup'
tab "vboxmanage metrics setup --period 2 " 'host +os1 +paused1 +run1' 'off1|saved1'
tab "vboxmanage metrics setup host RAM/V" 'vboxmanage metrics setup host RAM/VMM $'

finish
