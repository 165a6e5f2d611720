# bash completion for vboxmanage (vboxkvm)                  -*- shell-script -*-
# A thin adaptor: `vboxmanage __complete CWORD WORDS...` knows the grammar, the options and
# the VMs, and prints the candidates one per line, raw. This script hands it the line without
# its shell quoting and quotes what comes back the way the word was begun.
# Needs bash-completion (_init_completion). Registered for vboxmanage and VBoxManage.
# shellcheck shell=bash

# _vboxmanage_dequote WORD: WORD without its shell quoting ('...', "...", backslashes).
# Never evaluated (no expansions run while you press Tab); an unterminated quote (the word
# being typed) is dropped.
_vboxmanage_dequote()
{
    local in=$1 out="" c q="" i
    for ((i = 0; i < ${#in}; i++)); do
        c=${in:i:1}
        if [[ $q == "'" ]]; then
            if [[ $c == "'" ]]; then q=""; else out+=$c; fi
        elif [[ $c == \\ ]]; then
            ((i++))
            c=${in:i:1}
            # Inside "...", a backslash quotes only $ ` " and \.
            [[ $q == '"' && $c != [\$\`\"\\] ]] && out+=\\
            out+=$c
        elif [[ $q == '"' ]]; then
            if [[ $c == '"' ]]; then q=""; else out+=$c; fi
        elif [[ $c == [\'\"] ]]; then
            q=$c
        else
            out+=$c
        fi
    done
    printf '%s' "$out"
}

_vboxmanage()
{
    local cur prev words cword split
    _init_completion -s -n : || return

    local -a line=()
    local i
    for ((i = 0; i < cword; i++)); do
        line+=("$(_vboxmanage_dequote "${words[i]}")")
    done
    # --opt=value: readline completes the value alone (= breaks words), so ask for the
    # value of "--opt value".
    [[ $split == true ]] && line+=("$prev")
    line+=("$(_vboxmanage_dequote "$cur")")

    local bin=${line[0]}
    [[ $bin == \~/* ]] && bin=$HOME/${bin#\~/}
    mapfile -t COMPREPLY < <("$bin" __complete $((${#line[@]} - 1)) "${line[@]}" 2>/dev/null)
    ((${#COMPREPLY[@]})) || return 0
    __ltrim_colon_completions "$cur"
    # VM names may hold spaces and quotes, metric patterns '*': quote them as the word was
    # begun ("...", '...', or backslashes). Not with compopt -o filenames, which would also
    # append '/' to a candidate that happens to name a directory here (metrics/ in a checkout).
    local q=${cur:0:1} c
    for i in "${!COMPREPLY[@]}"; do
        c=${COMPREPLY[i]}
        case $q in
        \") c=${c//\\/\\\\}; c=${c//\"/\\\"}; c=${c//\$/\\\$}; c=${c//\`/\\\`}
            COMPREPLY[i]="\"$c\"" ;;
        \') COMPREPLY[i]="'${c//\'/\'\\\'\'}'" ;;
        *) printf -v 'COMPREPLY[i]' '%q' "$c" ;;
        esac
    done
} &&
    complete -F _vboxmanage vboxmanage VBoxManage

# ex: filetype=sh
