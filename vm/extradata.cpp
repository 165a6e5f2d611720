#include "vm/extradata.hpp"

#include "store/extradata_store.hpp"

#include <algorithm>
#include <stdexcept>

namespace vbm::vm {

ExtraDataScope ExtraDataScope::machine(std::string host, std::string uuid) {
  if (uuid.empty()) {
    // ("", "") is the global scope; a VM's scope must never be mistaken for it.
    throw std::invalid_argument("a VM's extra data scope needs its UUID");
  }
  return {{std::move(host), std::move(uuid)}};
}

ExtraDataScope ExtraDataScope::machine(backend::Hypervisor& hv, const backend::VmRef& vm) {
  return machine(hv.hostname(), vm.uuid);
}

std::optional<std::string> get_extradata(store::SettingsStore& st, const ExtraDataScope& scope,
                                         std::string_view key) {
  return st.extradata().get(scope.key, key);
}

std::vector<std::string> get_extradata_keys(store::SettingsStore& st, const ExtraDataScope& scope) {
  return st.extradata().keys(scope.key);
}

std::vector<std::pair<std::string, std::string>> enumerate_extradata(store::SettingsStore& st,
                                                                     const ExtraDataScope& scope) {
  // One query instead of VBoxManage's GetExtraData per key: the same pairs, and no key can
  // vanish between the listing and the read.
  return st.extradata().entries(scope.key);
}

bool has_control_character(std::string_view key) {
  // VirtualBox tests each `char` (signed on x86): bytes of 0x80 and up are negative there and
  // not below 32 as unsigned, so only ASCII controls and DEL count.
  return std::any_of(key.begin(), key.end(), [](char c) {
    auto b = static_cast<unsigned char>(c);
    return b < 0x20 || b == 0x7f;
  });
}

bool set_extradata(store::SettingsStore& st, const ExtraDataScope& scope, std::string_view key,
                   std::optional<std::string_view> value, const CallSite& site) {
  bool deletes = !value || value->empty();
  // Control characters in keys broke VirtualBox's settings files, so it refuses them, except
  // to delete such a key. Main returns E_INVALIDARG without setError, so VBoxManage has no
  // error text to print, only the code ([unconfirmed] against a real 7.0.14: derived from
  // VirtualBoxImpl.cpp/MachineImpl.cpp and errorprint.cpp).
  if (!deletes && has_control_character(key)) {
    throw ApiError::without_info(k_invalid_arg, site);
  }
  return st.extradata().set(scope.key, key, deletes ? std::nullopt : value);
}

} // namespace vbm::vm
