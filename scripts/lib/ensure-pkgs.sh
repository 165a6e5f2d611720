# shellcheck shell=bash
# Sourced helper: make sure Debian packages are installed.
#   ensure_pkgs PKG...   installs the missing ones with apt-get (needs root).
# Messages go to stderr, prefixed with ${LOG_TAG:-ensure-pkgs}.

pkg_installed() {
    local status
    status=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) || return 1
    [[ $status == "install ok installed" ]]
}

ensure_pkgs() {
    local missing=() p
    for p in "$@"; do
        pkg_installed "$p" || missing+=("$p")
    done
    ((${#missing[@]} == 0)) && return 0
    if ((EUID != 0)); then
        echo "${LOG_TAG:-ensure-pkgs}: missing Debian packages: ${missing[*]} (run as root to install them)" >&2
        return 1
    fi
    echo "${LOG_TAG:-ensure-pkgs}: installing ${missing[*]}" >&2
    local apt=(apt-get -y -q -o DPkg::Lock::Timeout=300 --no-install-recommends)
    if ! DEBIAN_FRONTEND=noninteractive "${apt[@]}" install "${missing[@]}" >&2; then
        echo "${LOG_TAG:-ensure-pkgs}: install failed, running apt-get update and retrying" >&2
        DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300 update >&2
        DEBIAN_FRONTEND=noninteractive "${apt[@]}" install "${missing[@]}" >&2
    fi
}

# apt_download PKG...: apt-get download into the current directory, with one
# apt-get update retry (a fresh machine may have no package lists yet).
apt_download() {
    if ! apt-get -q -o APT::Sandbox::User=root download "$@" >&2; then
        echo "${LOG_TAG:-ensure-pkgs}: apt-get download failed, running apt-get update and retrying" >&2
        DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300 update >&2
        apt-get -q -o APT::Sandbox::User=root download "$@" >&2
    fi
}
