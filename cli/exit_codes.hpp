#pragma once
// VirtualBox IPRT RTEXITCODE values (iprt/types.h).

namespace vbm::cli {
constexpr int k_exit_success = 0;
constexpr int k_exit_failure = 1;
constexpr int k_exit_syntax = 2;
constexpr int k_exit_interrupted = 130;
} // namespace vbm::cli
