#!/usr/bin/env bash
# test_shellcheck.sh SRC_DIR: shellcheck (all severities, the repository's .shellcheckrc) over
# every shell script of the repository: files named *.sh or *.bash, and files whose #! line
# runs sh or bash, anywhere outside .git and the build trees (build*/). The zsh completion
# (completions/_vboxmanage) is not among them: shellcheck does not read zsh; `zsh -n` checks it.
# A finding that is wrong is silenced where it occurs, with the reason:
#     # shellcheck disable=SC2016 # expanded by the hook, later
set -u
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
src=${1:?usage: test_shellcheck.sh SRC_DIR}
need_cmd shellcheck
cd "$src" || die "cannot enter $src"

# Named *.sh/*.bash, or with a first line like #!/bin/sh, #!/bin/bash, #!/usr/bin/env bash.
files=()
while IFS= read -r f; do
    files+=("${f#./}")
done < <(find . \( -path ./.git -o -path './build*' \) -prune -o -type f -print0 |
    xargs -0 awk 'FILENAME ~ /\.(sh|bash)$/ || (FNR == 1 && /^#!.*[\/ \t](ba)?sh([ \t]|$)/) { print FILENAME }
                  { nextfile }' | LC_ALL=C sort -u)

# The finder itself must work: every directory known to hold scripts contributes some.
for dir in .ci bench completions man scripts scripts/lib tests/cli tests/e2e tests/fuzz tests/shell; do
    n=0
    for f in "${files[@]}"; do [[ ${f%/*} == "$dir" ]] && n=$((n + 1)); done
    check "found $n shell script(s) in $dir/" test "$n" -gt 0
done

echo "shellcheck $(shellcheck --version | sed -n 's/^version: //p') on ${#files[@]} files:"
printf '  %s\n' "${files[@]}"
check "shellcheck finds nothing in ${#files[@]} shell scripts" shellcheck "${files[@]}"

finish
