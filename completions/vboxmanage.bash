# bash completion for vboxmanage (vboxkvm)                  -*- shell-script -*-
# Needs bash-completion (_init_completion). Also registered for VBoxManage.
# shellcheck shell=bash

# _vboxmanage_vms [--running|--stopped] VBOXMANAGE [-c URI]: COMPREPLY = the VMs whose
# name starts with $cur: all of them (`list vms`), the running and paused ones
# (`list runningvms`), or the others (`list vms` minus `list runningvms`).
# Lines are "name" {uuid}; names may contain spaces and quotes; compopt -o filenames
# makes readline quote them.
_vboxmanage_vms()
{
    local line name want=$cur what=vms
    local -A skip=()
    case ${1-} in
        --running)
            what=runningvms
            shift
            ;;
        --stopped)
            shift
            while IFS= read -r line; do
                [[ -n $line ]] && skip[$line]=1
            done < <("$@" list runningvms 2>/dev/null)
            ;;
    esac
    # The typed prefix without its shell quoting: an opening quote, backslashes.
    case $want in
        \"* | \'*) want=${want:1} ;;
    esac
    want=${want//\\/}
    COMPREPLY=()
    while IFS= read -r line; do
        [[ $line == \"*\"\ \{*\} && -z ${skip[$line]-} ]] || continue
        name=${line% \{*\}}
        name=${name#\"}
        name=${name%\"}
        [[ $name == "$want"* ]] && COMPREPLY+=("$name")
    done < <("$@" list "$what" 2>/dev/null)
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
            mapfile -t COMPREPLY < <(compgen -W 'list showvminfo modifyvm startvm controlvm help' -- "$cur")
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
        startvm)
            # Any number of VMs (those not running), and --type anywhere.
            case $prev in
                --type | -type)
                    mapfile -t COMPREPLY < <(compgen -W 'headless gui sdl separate' -- "$cur")
                    return
                    ;;
            esac
            [[ $split == true ]] && return
            if [[ $cur == -* ]]; then
                mapfile -t COMPREPLY < <(compgen -W '--type' -- "$cur")
            else
                _vboxmanage_vms --stopped "${vbm[@]}"
            fi
            ;;
        controlvm)
            # controlvm VM SUBCOMMAND [ARGS]: a running VM, then the subcommand.
            local sub=${words[cmdi + 2]-}
            if ((cword == cmdi + 1)); then
                _vboxmanage_vms --running "${vbm[@]}"
            elif ((cword == cmdi + 2)); then
                mapfile -t COMPREPLY < <(compgen -W \
                    'guestmemoryballoon poweroff acpipowerbutton pause resume' -- "$cur")
            elif [[ $sub == guestmemoryballoon ]] && ((cword == cmdi + 4)); then
                # After the size (MB; nothing to offer for it): the --wait extension.
                mapfile -t COMPREPLY < <(compgen -W '--wait' -- "$cur")
            fi
            ;;
    esac
} &&
    complete -F _vboxmanage vboxmanage VBoxManage

# ex: filetype=sh
