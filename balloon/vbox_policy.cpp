#include "balloon/vbox_policy.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace vbm::balloon {

namespace {
constexpr std::uint64_t k_1m = std::uint64_t{1024} * 1024; // _1M
} // namespace

VBoxPolicy::VBoxPolicy(const Options& options) : m_opt(options) {
  // VBoxModBallooningOption: an interval below 500 ms is raised to 500.
  m_opt.interval_ms = std::max<std::uint32_t>(m_opt.interval_ms, 500);
}

void VBoxPolicy::verbose(const std::string& line) const {
  if (m_opt.verbose) {
    log(line);
  }
}

std::int32_t VBoxPolicy::delta(std::uint32_t free_mb, std::uint32_t old_mb, std::uint32_t new_mb,
                               std::uint32_t max_mb,
                               std::optional<std::uint64_t> host_avail_bytes) const {
  const std::uint32_t inc = m_opt.inc_mb;
  const std::uint32_t dec = m_opt.dec_mb;
  const std::uint32_t lower = m_opt.lower_limit_mb;
  if (max_mb && new_mb > max_mb) {
    new_mb = max_mb;
  }
  std::int32_t d = 0;
  if (free_mb < lower) {
    // Guest is running low on memory: deflate (g_cMbMemoryBalloonDecrement * -1, unsigned).
    d = static_cast<std::int32_t>(0u - dec);
    if (static_cast<std::int32_t>(old_mb) + d < 0) {
      d = 0; // never a negative balloon: no partial deflate either
    }
  } else if (new_mb > old_mb) {
    // Inflate if there is room; free - increment wraps (uint32) when increment > free.
    std::uint32_t step = inc;
    while (step >= 16 && free_mb - step < lower) {
      step /= 2;
    }
    if (free_mb - step > lower) {
      d = static_cast<std::int32_t>(step);
    }
    if (old_mb + static_cast<std::uint32_t>(d) > new_mb) {
      d = static_cast<std::int32_t>(std::min(inc, new_mb - old_mb));
    }
  } else if (new_mb < old_mb) {
    d = static_cast<std::int32_t>(0u - std::min(dec, old_mb - new_mb));
  }
  // Deflating is limited to the host's available RAM, leaving the safety margin free.
  if (d < 0) {
    std::uint64_t safety = std::uint64_t{m_opt.safety_margin_mb} * k_1m;
    if (!host_avail_bytes || *host_avail_bytes < safety) {
      d = 0;
    } else if (static_cast<std::uint64_t>(-static_cast<std::int64_t>(d)) >
               (*host_avail_bytes - safety) / k_1m) {
      d = -static_cast<std::int32_t>((*host_avail_bytes - safety) / k_1m);
    }
  }
  return d;
}

std::uint32_t VBoxPolicy::max_size(const VBoxKeys& keys, std::string* source) const {
  // The global VBoxInternal/Guest/BalloonSizeMax, even one that reads as 0, masks --balloon-max.
  if (keys.global_size_max) {
    if (source) {
      *source = "global extra-data";
    }
    return vbox_to_uint32(*keys.global_size_max);
  }
  if (source) {
    *source = "command line";
  }
  return m_opt.max_mb.value_or(0);
}

std::uint32_t VBoxPolicy::requested_size(const VBoxKeys& keys, std::string* source) {
  if (keys.vm_size_max) {
    if (source) {
      *source = "per-VM extra-data";
    }
    return vbox_to_uint32(*keys.vm_size_max);
  }
  if (keys.vm_legacy_size_max) {
    if (source) {
      *source = "per-VM extra-data (legacy)";
    }
    return vbox_to_uint32(*keys.vm_legacy_size_max);
  }
  if (source) {
    *source = "none (disabled)";
  }
  return 0;
}

bool VBoxPolicy::enabled(const VBoxKeys& keys, std::string* source) {
  // The global key wins over the VM's.
  const auto& value = keys.global_enabled ? keys.global_enabled : keys.vm_enabled;
  if (source) {
    *source = keys.global_enabled ? "global extra-data" : "per-VM extra-data";
  }
  return value ? vbox_to_uint32(*value) != 0 : true;
}

void VBoxPolicy::update(const Guest& g, const HostFigures& host, std::vector<Action>& out) {
  const auto& f = g.figures;
  // Guest/RAM/Usage/Free and …/Balloon, in kB; no statistics yet: skip this VM silently.
  auto kb_free = static_cast<std::int64_t>(f.unused_kib.value_or(0));
  if (kb_free <= 0) {
    return;
  }
  auto& data = m_payload[f.uuid];
  auto free_mb = static_cast<std::uint32_t>(kb_free / 1024);
  auto cur_mb = static_cast<std::uint32_t>((f.max_kib > f.actual_kib ? f.max_kib - f.actual_kib : 0) / 1024);
  const auto& keys = g.settings.vbox;
  std::string source;
  bool on = enabled(keys, &source);
  if (keys.global_enabled || keys.vm_enabled) {
    verbose(fmt::format("[{}] Ballooning is forced to {} ({})", f.name, on ? "enabled" : "disabled",
                        source));
  }
  std::uint32_t max = max_size(keys, &source);
  verbose(fmt::format("[{}] Maximum balloning size is ({}): {}MB", f.name, source, max));
  std::uint32_t req = requested_size(keys, &source);
  verbose(fmt::format("[{}] Requested balloning size is ({}): {}MB", f.name, source, req));
  verbose(fmt::format("[{}] Free RAM (MB): {}, Ballooning: Current={}MB, Requested={}MB, "
                      "Maximum={}MB",
                      f.name, free_mb, cur_mb, req, max));
  if (max && req > max && data.req_last != req) {
    log(fmt::format("[{}] Warning: Requested ballooning size ({}MB) exceeds set maximum "
                    "ballooning size ({}MB), limiting ...",
                    f.name, req, max));
  }
  verbose(fmt::format("[{}] cMbGuestMemFree={}, cMbBalloonOld={}, cMbBalloonNew={}, "
                      "cMbBalloonMax={}",
                      f.name, free_mb, cur_mb, req, max));
  std::optional<std::uint64_t> avail;
  if (host.total_kib > 0) {
    avail = host.free_kib * 1024;
  }
  std::int32_t d = delta(free_mb, cur_mb, req, max, avail);
  auto set_size = [&](std::uint32_t mb, std::string reason) {
    verbose(fmt::format("[{}] Setting balloon size to {}MB ...", f.name, mb));
    std::uint64_t taken = std::min<std::uint64_t>(std::uint64_t{mb} * 1024, f.max_kib);
    out.push_back({f.uuid, f.max_kib - taken, std::move(reason), d < 0});
  };
  if (d != 0) {
    cur_mb = cur_mb + static_cast<std::uint32_t>(d);
    auto text = fmt::format("{} balloon by {}MB to {}MB ...", d > 0 ? "Inflating" : "Deflating",
                            d < 0 ? -static_cast<std::int64_t>(d) : d, cur_mb);
    if (on) {
      log(fmt::format("[{}] {}", f.name, text));
      set_size(cur_mb, text);
    } else {
      verbose(fmt::format("[{}] Requested {} balloon by {}MB to {}MB, but ballooning is disabled",
                          f.name, d > 0 ? "inflating" : "deflating",
                          d < 0 ? -static_cast<std::int64_t>(d) : d, cur_mb));
    }
  }
  if (cur_mb != data.cur_last && !on) {
    verbose(fmt::format("[{}] Ballooning is disabled, forcing to 0", f.name));
    set_size(0, "Ballooning is disabled, forcing to 0");
  }
  data.cur_last = cur_mb;
  data.req_last = req;
}

std::int64_t VBoxPolicy::decide(std::int64_t now_ms, const HostFigures& host,
                                std::span<const Guest> guests, std::vector<Action>& out) {
  // VBoxModBallooningMain: a pass at the first call, then once the interval has passed since
  // the end of the last one (strictly more).
  if (m_last_ms && now_ms - *m_last_ms <= m_opt.interval_ms) {
    return *m_last_ms + m_opt.interval_ms + 1 - now_ms;
  }
  for (const auto& g : guests) {
    if (g.running) { // MachineState_Running only: paused VMs are skipped
      m_payload.try_emplace(g.figures.uuid);
      update(g, host, out);
    }
  }
  m_last_ms = now_ms;
  return m_opt.interval_ms + 1;
}

GuestNote VBoxPolicy::note(const std::string& uuid) const {
  GuestNote n;
  if (m_payload.contains(uuid)) {
    n.guard_kib = std::uint64_t{m_opt.lower_limit_mb} * 1024; // its lower limit of free memory
  }
  return n;
}

} // namespace vbm::balloon
