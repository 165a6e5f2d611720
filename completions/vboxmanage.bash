# bash completion for vboxmanage (vboxkvm)                  -*- shell-script -*-
# Needs bash-completion (_init_completion). Also registered for VBoxManage.
# shellcheck shell=bash

# _vboxmanage_vms VBOXMANAGE [-c URI]: COMPREPLY = the VMs whose name starts with $cur.
# Names come from `list vms` ("name" {uuid} lines) and may contain spaces and quotes;
# compopt -o filenames makes readline quote them.
_vboxmanage_vms()
{
    local line name want=$cur
    # The typed prefix without its shell quoting: an opening quote, backslashes.
    case $want in
        \"* | \'*) want=${want:1} ;;
    esac
    want=${want//\\/}
    COMPREPLY=()
    while IFS= read -r line; do
        [[ $line == \"*\"\ \{*\} ]] || continue
        name=${line% \{*\}}
        name=${name#\"}
        name=${name%\"}
        [[ $name == "$want"* ]] && COMPREPLY+=("$name")
    done < <("$@" list vms 2>/dev/null)
    ((${#COMPREPLY[@]})) || return 0
    compopt -o filenames 2>/dev/null
    __ltrim_colon_completions "$cur"
}

_vboxmanage()
{
    local cur prev words cword split
    _init_completion -s -n : || return

    # Global options up to the command word; remember -c URI for `list vms`.
    local i cmd="" cmdi=0 helped=""
    local -a conn=()
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
            -c | --connect)
                conn=(-c "${words[i + 1]-}")
                ((i++))
                ;;
            --connect=*) conn=(-c "${words[i]#--connect=}") ;;
            -c?*) conn=(-c "${words[i]#-c}") ;;
            -q | --nologo | -nologo | -V | --version | -v | -version | -h | --help | -\?) ;;
            help) helped=1 ;;
            *)
                cmd=${words[i]}
                cmdi=$i
                break
                ;;
        esac
    done

    if [[ -z $cmd ]]; then
        case $prev in
            -c | --connect) return ;;
        esac
        if [[ $cur == -* && -z $helped ]]; then
            mapfile -t COMPREPLY < <(compgen -W '--connect --nologo --version -c -q -V' -- "$cur")
        else
            mapfile -t COMPREPLY < <(compgen -W 'list showvminfo modifyvm help' -- "$cur")
        fi
        return
    fi
    [[ -n $helped ]] && return

    local bin=${words[0]}
    [[ $bin == \~/* ]] && bin=$HOME/${bin#\~/}
    local -a vbm=("$bin" "${conn[@]}")

    case $cmd in
        list)
            mapfile -t COMPREPLY < <(compgen -W 'vms runningvms --long --sorted' -- "$cur")
            ;;
        showvminfo)
            # The VM is the only non-option argument; options may come before or after it.
            local have_vm=""
            for ((i = cmdi + 1; i < cword; i++)); do
                [[ ${words[i]} == -* ]] || have_vm=1
            done
            if [[ -z $have_vm && $cur != -* ]]; then
                _vboxmanage_vms "${vbm[@]}"
            else
                mapfile -t COMPREPLY < <(compgen -W '--details --machinereadable --json' -- "$cur")
            fi
            ;;
        modifyvm)
            if ((cword == cmdi + 1)); then
                _vboxmanage_vms "${vbm[@]}"
                return
            fi
            case $prev in
                --page-fusion | --pagefusion | --large-pages | --largepages)
                    mapfile -t COMPREPLY < <(compgen -W 'on off' -- "$cur")
                    return
                    ;;
                --memory | --guest-memory-balloon | --guestmemoryballoon)
                    return
                    ;;
            esac
            [[ $split == true ]] && return
            mapfile -t COMPREPLY < <(compgen -W \
                '--memory --page-fusion --large-pages --guest-memory-balloon' -- "$cur")
            ;;
    esac
} &&
    complete -F _vboxmanage vboxmanage VBoxManage

# ex: filetype=sh
