#!/usr/bin/env bash
# One bounded libFuzzer run for CTest: FUZZER reads the committed CORPUS (new inputs go to a
# temporary directory, so the source tree is never written), crash inputs go to ARTIFACTS/.
# The remaining arguments are libFuzzer options. Exit 0 only if nothing was found.
set -euo pipefail
fuzzer=$1 corpus=$2 artifacts=$3
shift 3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$artifacts"
"$fuzzer" -error_exitcode=77 -timeout_exitcode=77 -artifact_prefix="$artifacts/" "$@" \
  "$work" "$corpus"
