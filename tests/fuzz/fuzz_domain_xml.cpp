// libFuzzer harness over backend/domain_xml.hpp: parse_domain_memory and apply_domain_memory on
// arbitrary XML.
//
// Input: the XML text, optionally followed by a NUL byte and edit bytes from which the
// DomainMemory to write is derived (FuzzedDataProvider). Without them (the seed corpus is plain
// domain XML) a fixed edit is used. Every input also gets a second edit: what it read, with
// both flags flipped and the balloon emptied.
//
// Invariants (abort() on violation):
//  - both functions throw nothing but BackendError;
//  - apply refuses only what parse refuses too (no XML, or no <domain>);
//  - parse reads what apply wrote (memory, currentMemory, both flags, <vcpu> and its
//    `current`), and the balloon device
//    is the one the input had. Not checked, nor what follows, for a <domain> with two
//    <memoryBacking>: libvirt never prints that, and when apply empties (so removes) the first,
//    parse reads the second;
//  - apply is idempotent: applying the same values to its own output changes nothing (up to
//    the indentation of its first output);
//  - everything but <memory>, <currentMemory>, the two flags of <memoryBacking>, the count
//    and `current` of <vcpu> and <memballoon>'s freePageReporting and autodeflate (a plain
//    virtio <memballoon> apply adds when there is none) is preserved.

#include "backend/domain_xml.hpp"

#include <fuzzer/FuzzedDataProvider.h>
#include <pugixml.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

namespace {

using vbm::backend::BackendError;
using vbm::backend::DomainMemory;

[[noreturn]] void fail(const char* what, std::string_view xml, std::string_view out = {}) {
  std::fprintf(stderr,
               "fuzz_domain_xml invariant violated: %s\n--- input\n%.*s\n--- output\n%.*s\n", what,
               static_cast<int>(xml.size()), xml.data(), static_cast<int>(out.size()), out.data());
  std::abort();
}

template <class F>
auto no_throw_but_backend(F&& f, std::string_view xml) -> std::optional<decltype(f())> {
  try {
    return f();
  } catch (const BackendError&) {
    return std::nullopt;
  } catch (...) {
    fail("an exception other than BackendError", xml);
  }
}

/// Removes the children of `node` that are text of white space only (indentation).
void drop_blank_text(pugi::xml_node node) {
  for (auto child = node.first_child(); child;) {
    auto next = child.next_sibling();
    if (child.type() == pugi::node_pcdata &&
        std::string_view(child.value()).find_first_not_of(" \t\r\n") == std::string_view::npos) {
      node.remove_child(child);
    }
    child = next;
  }
}

/// The document as domain_xml.cpp loads it, without what apply_domain_memory may change:
/// the first <memory> and <currentMemory>, and the flags of the first <memoryBacking> (which
/// goes too once empty), nor the indentation of the two elements it adds children to.
/// Serialized raw for comparison.
std::string without_memory(std::string_view xml) {
  pugi::xml_document doc;
  if (!doc.load_buffer(xml.data(), xml.size(),
                       pugi::parse_default | pugi::parse_ws_pcdata_single)) {
    return "<unparsable>";
  }
  auto domain = doc.child("domain");
  domain.remove_child("memory");
  domain.remove_child("currentMemory");
  if (auto vcpu = domain.child("vcpu")) { // its other attributes (placement, cpuset) stay
    while (vcpu.remove_attribute("current")) {
    }
    while (auto child = vcpu.first_child()) {
      vcpu.remove_child(child);
    }
    if (!vcpu.first_attribute()) {
      domain.remove_child(vcpu); // apply adds a <vcpu> where there was none
    }
  }
  drop_blank_text(domain);
  // <memballoon>'s two attributes; a plain virtio one apply may have added, and its <devices>.
  if (auto devices = domain.child("devices")) {
    if (auto balloon = devices.child("memballoon")) {
      while (balloon.remove_attribute("freePageReporting")) {
      }
      while (balloon.remove_attribute("autodeflate")) {
      }
      auto model = balloon.attribute("model");
      if (!balloon.first_child() && model && balloon.first_attribute() == model &&
          !model.next_attribute() && std::string_view(model.value()) == "virtio") {
        devices.remove_child(balloon);
      }
    }
    drop_blank_text(devices);
    if (!devices.first_child() && !devices.first_attribute()) {
      domain.remove_child(devices);
    }
  }
  if (auto backing = domain.child("memoryBacking")) {
    while (backing.remove_child("nosharepages")) {
    }
    while (backing.remove_child("hugepages")) {
    }
    drop_blank_text(backing);
    if (!backing.first_child()) {
      domain.remove_child(backing);
    }
  }
  std::ostringstream out;
  doc.save(out, "", pugi::format_raw | pugi::format_no_declaration);
  return out.str();
}

/// How many <memoryBacking> the <domain> has. libvirt's schema allows one, and libvirt's XML
/// (all vboxmanage ever edits) has at most one.
size_t memory_backings(std::string_view xml) {
  pugi::xml_document doc;
  doc.load_buffer(xml.data(), xml.size(), pugi::parse_default | pugi::parse_ws_pcdata_single);
  auto range = doc.child("domain").children("memoryBacking");
  return static_cast<size_t>(std::distance(range.begin(), range.end()));
}

void check_edit(std::string_view xml, const std::optional<DomainMemory>& read,
                const DomainMemory& want) {
  auto out =
      no_throw_but_backend([&] { return vbm::backend::apply_domain_memory(xml, want); }, xml);
  if (!out) {
    if (read) {
      fail("apply refused XML that parse read", xml);
    }
    return;
  }
  auto back = no_throw_but_backend([&] { return vbm::backend::parse_domain_memory(*out); }, xml);
  if (!back) {
    fail("parse cannot read what apply wrote", xml, *out);
  }
  if (memory_backings(xml) > 1) {
    return; // not libvirt's XML: apply edits the first, parse then reads the next (see top)
  }
  auto expected = want;
  expected.balloon_device = read ? read->balloon_device : back->balloon_device;
  expected.hugepages_sized = back->hugepages_sized; // read only: apply keeps a <hugepages>
  if (*back != expected) {
    fail("what apply wrote is not what parse reads back", xml, *out);
  }
  // Applying the same values again changes nothing, up to indentation: where apply added
  // elements beside a text of white space only (kept as the single child by
  // parse_ws_pcdata_single), its first output keeps that text, which the next read drops.
  auto again =
      no_throw_but_backend([&] { return vbm::backend::apply_domain_memory(*out, want); }, xml);
  if (!again || without_memory(*again) != without_memory(*out)) {
    fail("applying the same values again changed the XML", *out, again ? *again : "<refused>");
  }
  auto third =
      no_throw_but_backend([&] { return vbm::backend::apply_domain_memory(*again, want); }, xml);
  if (!third || *third != *again) {
    fail("apply is not idempotent", *again, third ? *third : "<refused>");
  }
  if (without_memory(xml) != without_memory(*out)) {
    fail("apply changed something besides the memory settings", xml, *out);
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  size_t nul = input.rfind('\0');
  std::string_view xml = input.substr(0, nul);

  auto read = no_throw_but_backend([&] { return vbm::backend::parse_domain_memory(xml); }, xml);

  DomainMemory want{1048576, 524288, true, true, true};
  if (nul != std::string_view::npos) {
    FuzzedDataProvider edit(data + nul + 1, size - nul - 1);
    want.memory_kib = edit.ConsumeIntegral<std::uint64_t>();
    want.current_kib = edit.ConsumeIntegral<std::uint64_t>();
    want.nosharepages = edit.ConsumeBool();
    want.hugepages = edit.ConsumeBool();
    want.vcpus = edit.ConsumeIntegralInRange<std::uint32_t>(1, UINT32_MAX);
    want.current_vcpus = edit.ConsumeIntegralInRange<std::uint32_t>(1, UINT32_MAX);
    want.free_page_reporting = edit.ConsumeBool();
    want.autodeflate = edit.ConsumeBool();
  }
  check_edit(xml, read, want);
  if (read) {
    DomainMemory flipped = *read;
    flipped.current_kib = flipped.memory_kib;
    flipped.nosharepages = !flipped.nosharepages;
    flipped.hugepages = !flipped.hugepages;
    flipped.vcpus = flipped.vcpus == 1 ? 2 : 1;
    flipped.free_page_reporting = !flipped.free_page_reporting;
    flipped.autodeflate = !flipped.autodeflate;
    check_edit(xml, read, flipped);
  }
  return 0;
}
