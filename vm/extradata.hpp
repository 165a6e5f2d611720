#pragma once
// VirtualBox's extra data: IVirtualBox's and IMachine's GetExtraData, GetExtraDataKeys and
// SetExtraData (VirtualBoxImpl.cpp, MachineImpl.cpp), over the settings store. The commands
// getextradata/setextradata use these, and so does anything that reads VirtualBox's settings
// keys (the balloon service: "VBoxInternal/Guest/BalloonSizeMax", …).
//
// Main reserves no key prefix: "VBoxInternal/", "VBoxInternal2/", "GUI/" and "VBoxKVM/" are all
// plain strings, and an empty key is a key like any other.

#include "backend/hypervisor.hpp"
#include "store/settings_store.hpp"
#include "vm/errors.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vbm::vm {

/// Whose extra data: VirtualBox's global data (IVirtualBox; here one set per store, whatever
/// the libvirt host), or one VM's (IMachine; keyed like its settings, by libvirt host name and
/// domain UUID).
struct ExtraDataScope {
  store::VmKey key; ///< ("", "") for the global scope

  static ExtraDataScope global() { return {}; }
  /// The VM with domain UUID `uuid` (lowercase, no braces) on the libvirt host `host`
  /// (Hypervisor::hostname()). Throws std::invalid_argument for an empty UUID.
  static ExtraDataScope machine(std::string host, std::string uuid);
  /// A VM found on `hv` (find_machine).
  static ExtraDataScope machine(backend::Hypervisor& hv, const backend::VmRef& vm);
  bool is_global() const { return key.uuid.empty(); }
};

/// GetExtraData: the key's value; nullopt when it has none (VirtualBox returns "" then: an
/// empty value is never stored). Throws store::StoreError.
std::optional<std::string> get_extradata(store::SettingsStore& st, const ExtraDataScope& scope,
                                         std::string_view key);

/// GetExtraDataKeys: every key that has a value, in byte-wise order (VirtualBox keeps them in
/// a std::map<Utf8Str>, whose order is strcmp's). Throws store::StoreError.
std::vector<std::string> get_extradata_keys(store::SettingsStore& st, const ExtraDataScope& scope);

/// GetExtraDataKeys, then GetExtraData of each: (key, value) pairs in key order, as
/// `getextradata … enumerate` prints them. Throws store::StoreError.
std::vector<std::pair<std::string, std::string>> enumerate_extradata(store::SettingsStore& st,
                                                                     const ExtraDataScope& scope);

/// RTLocCIsCntrl over the key's bytes, as SetExtraData checks them: 0x00-0x1F and 0x7F. Bytes of
/// UTF-8 sequences (0x80 and up) are not control characters.
bool has_control_character(std::string_view key);

/// SetExtraData: sets the key; an absent or empty value deletes it (deleting a missing key, or
/// setting the value it has, changes nothing). A non-empty value for a key with a control
/// character is refused as VirtualBox refuses it: a bare E_INVALIDARG with no error text
/// (ApiError::without_info, `site` as its Context). A VM's extra data may be set in any state,
/// running included (VBoxManage takes a shared lock, which joins a running VM's session).
/// Returns whether the stored data changed. Throws ApiError, store::StoreError.
bool set_extradata(store::SettingsStore& st, const ExtraDataScope& scope, std::string_view key,
                   std::optional<std::string_view> value, const CallSite& site = {});

} // namespace vbm::vm
