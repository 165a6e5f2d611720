#include "backend/hypervisor.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace vbm::backend {

std::optional<VmRef> Hypervisor::find_vm(std::string_view name_or_uuid) {
  if (auto uuid = parse_uuid(name_or_uuid)) {
    return lookup_uuid(*uuid);
  }
  return lookup_name(std::string(name_or_uuid));
}

std::optional<std::string> parse_uuid(std::string_view text) {
  if (text.size() == 38 && text.front() == '{' && text.back() == '}') {
    text = text.substr(1, 36);
  }
  if (text.size() != 36) {
    return std::nullopt;
  }
  std::string out;
  bool nonzero = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') {
        return std::nullopt;
      }
    } else if (!std::isxdigit(static_cast<unsigned char>(c))) {
      return std::nullopt;
    } else if (c != '0') {
      nonzero = true;
    }
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (!nonzero) {
    return std::nullopt;
  }
  return out;
}

bool is_64bit_arch(std::string_view arch) {
  static constexpr std::array<std::string_view, 11> k_64bit = {
      "x86_64", "aarch64",  "ppc64",   "ppc64le",     "s390x", "riscv64",
      "mips64", "mips64el", "sparc64", "loongarch64", "alpha"};
  return std::find(k_64bit.begin(), k_64bit.end(), arch) != k_64bit.end();
}

} // namespace vbm::backend
