#pragma once
// VirtualBox's guest properties (IMachine's Get/Set/Delete/EnumerateGuestProperties) on a KVM
// host, which has no Guest Additions to write them:
//  - the ones the host can answer itself while the guest runs, derived live: the network
//    (/VirtualBox/GuestInfo/Net/…, from libvirt's interface addresses: DHCP lease, then ARP,
//    then the guest agent) and the OS (/VirtualBox/GuestInfo/OS/…, from the guest agent);
//  - the ones set from the host (guestproperty set), kept in the store as VirtualBox keeps
//    non-transient properties in the machine's settings; TRANSIENT ones live for one run.
// A live value wins over a stored one of the same name: on VirtualBox the guest's next update
// overwrites what the host set, and here the guest's view is read at every call.

#include "backend/hypervisor.hpp"
#include "store/settings_store.hpp"
#include "vm/errors.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vbm::vm {

struct GuestProperty {
  std::string name;
  std::string value;
  std::int64_t timestamp_ns = 0; ///< nanoseconds since the epoch (VirtualBox's timestamps)
  std::string flags;             ///< GuestPropWriteFlags' text: "", "TRANSIENT, RDONLYGUEST", …
  bool operator==(const GuestProperty&) const = default;
};

/// GuestPropValidateFlags: a comma-separated list of TRANSIENT, TRANSRESET, RDONLYGUEST,
/// RDONLYHOST, READONLY (any case, spaces around); the flag bits, nullopt when invalid.
std::optional<std::uint32_t> parse_guest_property_flags(std::string_view text);
/// GuestPropWriteFlags: TRANSRESET implies TRANSIENT; READONLY for both read-only flags.
std::string guest_property_flags_text(std::uint32_t flags);

/// RTStrSimplePatternMultiMatch: '|'-separated patterns with '*' and '?'.
bool pattern_multi_match(std::string_view patterns, std::string_view name);

/// What the host derives for a running guest (none when `vm` is not running), in name order.
/// `prefix` limits the work to the properties whose names start with it ("" for all).
std::vector<GuestProperty> live_guest_properties(backend::Hypervisor& hv, const backend::VmRef& vm,
                                                 std::int64_t now_ns, std::string_view prefix = {});

/// GetGuestProperty: the live value if the host derives one, else the stored one; nullopt
/// when neither (VirtualBox's empty value).
std::optional<GuestProperty> get_guest_property(backend::Hypervisor& hv, store::SettingsStore& st,
                                                const backend::VmRef& vm, std::string_view name,
                                                std::int64_t now_ns);

/// EnumerateGuestProperties: live and stored ones whose names match `patterns` (every one
/// when empty), in byte-wise name order.
std::vector<GuestProperty> enumerate_guest_properties(backend::Hypervisor& hv,
                                                      store::SettingsStore& st,
                                                      const backend::VmRef& vm,
                                                      std::string_view patterns,
                                                      std::int64_t now_ns);

/// SetGuestProperty (`flags` given) / SetGuestPropertyValue (nullopt flags), as Main checks it:
/// the name (1-63 bytes, no '*', '?' or '|') and value (under 1024 bytes) as
/// E_INVALIDARG with IPRT's status as text; invalid flags; TRANSIENT or TRANSRESET on a VM
/// that is not running; an existing RDONLYHOST property (E_ACCESSDENIED). An empty value
/// deletes. `site` is the Context line of the error. Throws ApiError, store::StoreError.
void set_guest_property(store::SettingsStore& st, const store::VmKey& key, const backend::VmRef& vm,
                        std::string_view name, std::string_view value,
                        std::optional<std::string_view> flags, std::int64_t now_ns,
                        const CallSite& site);

/// DeleteGuestProperty: removes a stored property (nothing to do when there is none); an
/// RDONLYHOST one is refused. Throws ApiError, store::StoreError.
void delete_guest_property(store::SettingsStore& st, const store::VmKey& key,
                           const backend::VmRef& vm, std::string_view name, const CallSite& site);

} // namespace vbm::vm
