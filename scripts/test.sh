#!/usr/bin/env bash
# Runs every test: installs what is missing, builds, then unit, integration, golden CLI and
# end-to-end tests (a real libvirtd and real QEMU guests, started as needed; run as root),
# then the unit, integration and CLI tests again under AddressSanitizer + UBSan, then a short
# run of each libFuzzer harness on its committed corpus (clang, ASan + UBSan), then the product
# code compiled with clang-tidy (.clang-tidy; every finding fails the build).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset default
cmake --build --preset default
ctest --preset default "$@"
cmake --preset asan
cmake --build --preset asan
ctest --preset asan -E '^(package\.deb|lint\.shellcheck)$' "$@" # no C++ in either
cmake --preset fuzz
cmake --build --preset fuzz
ctest --preset fuzz "$@"
cmake --preset tidy
cmake --build --preset tidy
