#include "balloon/state.hpp"

#include "sys/files.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>

namespace vbm::balloon {

namespace {
using nlohmann::json;

template <class T>
void put_opt(json& j, const char* key, const std::optional<T>& v) {
  if (v) {
    j[key] = *v;
  }
}
template <class T>
std::optional<T> get_opt(const json& j, const char* key) {
  return j.contains(key) ? std::optional<T>(j.at(key).get<T>()) : std::nullopt;
}
} // namespace

std::string ServiceState::to_json() const {
  json j;
  j["version"] = k_version;
  j["pid"] = pid;
  j["updated_ms"] = updated_ms;
  j["started_ms"] = started_ms;
  j["uri"] = uri;
  j["hostname"] = hostname;
  j["connected"] = connected;
  j["dryrun"] = dryrun;
  j["host"] = {{"state", host_state},
               {"total_kib", host_total_kib},
               {"available_kib", host_available_kib},
               {"emulated", host_emulated}};
  j["guests"] = json::array();
  for (const auto& g : guests) {
    json gj{{"name", g.name},         {"uuid", g.uuid},         {"policy", g.policy},
            {"mode", g.mode},         {"max_kib", g.max_kib},   {"actual_kib", g.actual_kib},
            {"target_kib", g.target_kib}, {"state", g.state},   {"why", g.why}};
    put_opt(gj, "usable_kib", g.usable_kib);
    put_opt(gj, "guard_kib", g.guard_kib);
    j["guests"].push_back(gj);
  }
  j["decisions"] = json::array();
  for (const auto& d : decisions) {
    j["decisions"].push_back({{"at_ms", d.at_ms},
                              {"name", d.name},
                              {"from_kib", d.from_kib},
                              {"to_kib", d.to_kib},
                              {"reason", d.reason},
                              {"urgent", d.urgent},
                              {"applied", d.applied}});
  }
  json c{{"changes", changes},
         {"urgent_changes", urgent_changes},
         {"not_responding", not_responding},
         {"reaction_ms", reaction_ms},
         {"reactions", reactions},
         {"reaction_ms_sum", reaction_ms_sum}};
  put_opt(c, "reaction_p50_ms", reaction_p50_ms);
  put_opt(c, "reaction_p99_ms", reaction_p99_ms);
  j["counters"] = c;
  return j.dump(1, ' ', false, json::error_handler_t::replace) + "\n";
}

std::optional<ServiceState> ServiceState::from_json(std::string_view text) {
  auto j = json::parse(text, nullptr, false);
  if (!j.is_object() || j.value("version", 0) != k_version) {
    return std::nullopt;
  }
  try {
    ServiceState s;
    s.pid = j.at("pid").get<int>();
    s.updated_ms = j.at("updated_ms").get<std::int64_t>();
    s.started_ms = j.at("started_ms").get<std::int64_t>();
    s.uri = j.at("uri").get<std::string>();
    s.hostname = j.value("hostname", std::string());
    s.connected = j.at("connected").get<bool>();
    s.dryrun = j.at("dryrun").get<bool>();
    const auto& h = j.at("host");
    s.host_state = h.at("state").get<std::string>();
    s.host_total_kib = h.at("total_kib").get<std::uint64_t>();
    s.host_available_kib = h.at("available_kib").get<std::uint64_t>();
    s.host_emulated = h.at("emulated").get<bool>();
    for (const auto& g : j.at("guests")) {
      s.guests.push_back({g.at("name").get<std::string>(), g.at("uuid").get<std::string>(),
                          g.at("policy").get<std::string>(), g.at("mode").get<std::string>(),
                          g.at("max_kib").get<std::uint64_t>(), g.at("actual_kib").get<std::uint64_t>(),
                          g.at("target_kib").get<std::uint64_t>(), get_opt<std::uint64_t>(g, "usable_kib"),
                          get_opt<std::uint64_t>(g, "guard_kib"), g.at("state").get<std::string>(),
                          g.at("why").get<std::string>()});
    }
    for (const auto& d : j.at("decisions")) {
      s.decisions.push_back({d.at("at_ms").get<std::int64_t>(), d.at("name").get<std::string>(),
                             d.at("from_kib").get<std::uint64_t>(), d.at("to_kib").get<std::uint64_t>(),
                             d.at("reason").get<std::string>(), d.at("urgent").get<bool>(),
                             d.at("applied").get<bool>()});
    }
    const auto& c = j.at("counters");
    s.changes = c.at("changes").get<std::uint64_t>();
    s.urgent_changes = c.at("urgent_changes").get<std::uint64_t>();
    s.not_responding = c.at("not_responding").get<std::uint64_t>();
    s.reaction_ms = c.at("reaction_ms").get<std::vector<std::int64_t>>();
    s.reactions = c.value("reactions", std::uint64_t{0});
    s.reaction_ms_sum = c.value("reaction_ms_sum", std::uint64_t{0});
    s.reaction_p50_ms = get_opt<std::int64_t>(c, "reaction_p50_ms");
    s.reaction_p99_ms = get_opt<std::int64_t>(c, "reaction_p99_ms");
    return s;
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

std::string exposition(const ServiceState& s, bool running) {
  auto esc = [](std::string_view v) {
    std::string out;
    for (char c : v) {
      if (c == '\\' || c == '"') {
        out += '\\';
      }
      out += c == '\n' ? std::string("\\n") : std::string(1, c);
    }
    return out;
  };
  std::string uri = fmt::format("host=\"{}\",uri=\"{}\"", esc(s.hostname), esc(s.uri));
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help) {
    out += fmt::format("# HELP vboxkvm_balloonctrl_{} {}\n# TYPE vboxkvm_balloonctrl_{} {}\n", name,
                       help, name, type);
  };
  metric("up", "gauge", "Whether the balloon service runs");
  out += fmt::format("vboxkvm_balloonctrl_up{{{}}} {}\n", uri, running ? 1 : 0);
  std::uint64_t reclaimed = 0;
  for (const auto& g : s.guests) {
    reclaimed += g.max_kib - std::min(g.max_kib, g.actual_kib);
  }
  metric("reclaimed_bytes", "gauge", "Guest memory its balloons hold back for the host");
  out += fmt::format("vboxkvm_balloonctrl_reclaimed_bytes{{{}}} {}\n", uri, reclaimed * 1024);
  metric("changes_total", "counter", "Balloon targets set since the service started");
  out += fmt::format("vboxkvm_balloonctrl_changes_total{{{}}} {}\n", uri, s.changes);
  metric("urgent_changes_total", "counter", "Balloon targets set for guests running short");
  out += fmt::format("vboxkvm_balloonctrl_urgent_changes_total{{{}}} {}\n", uri, s.urgent_changes);
  metric("not_responding_total", "counter", "Times a guest's balloon was found not responding");
  out += fmt::format("vboxkvm_balloonctrl_not_responding_total{{{}}} {}\n", uri, s.not_responding);
  metric("reaction_seconds", "summary",
         "From a guest running short to its balloon giving memory back (quantiles: recent ones)");
  if (s.reaction_p50_ms) {
    out += fmt::format("vboxkvm_balloonctrl_reaction_seconds{{{},quantile=\"0.5\"}} {:.3f}\n", uri,
                       static_cast<double>(*s.reaction_p50_ms) / 1000);
    out += fmt::format("vboxkvm_balloonctrl_reaction_seconds{{{},quantile=\"0.99\"}} {:.3f}\n", uri,
                       static_cast<double>(s.reaction_p99_ms.value_or(0)) / 1000);
  }
  out += fmt::format("vboxkvm_balloonctrl_reaction_seconds_sum{{{}}} {:.3f}\n", uri,
                     static_cast<double>(s.reaction_ms_sum) / 1000);
  out += fmt::format("vboxkvm_balloonctrl_reaction_seconds_count{{{}}} {}\n", uri, s.reactions);
  auto guest = [&](const GuestState& g) {
    return fmt::format("{},vm=\"{}\",uuid=\"{}\"", uri, esc(g.name), g.uuid);
  };
  metric("guest_state", "gauge", "The guest's state in the service (1 for the state it is in)");
  for (const auto& g : s.guests) {
    out += fmt::format("vboxkvm_balloonctrl_guest_state{{{},state=\"{}\"}} 1\n", guest(g),
                       esc(g.state));
  }
  metric("guest_not_responding", "gauge", "1 while the guest's balloon does not move");
  for (const auto& g : s.guests) {
    out += fmt::format("vboxkvm_balloonctrl_guest_not_responding{{{}}} {}\n", guest(g),
                       g.state == "not responding" ? 1 : 0);
  }
  struct Field {
    const char* name;
    const char* help;
    std::optional<std::uint64_t> (*get)(const GuestState&);
  };
  constexpr Field k_fields[] = {
      {"guest_max_bytes", "The guest's memory with an empty balloon",
       [](const GuestState& g) -> std::optional<std::uint64_t> { return g.max_kib; }},
      {"guest_target_bytes", "The balloon target: the memory the guest is to have",
       [](const GuestState& g) -> std::optional<std::uint64_t> { return g.target_kib; }},
      {"guest_actual_bytes", "The memory the guest has",
       [](const GuestState& g) -> std::optional<std::uint64_t> { return g.actual_kib; }},
      {"guest_usable_bytes", "The guest's usable memory (MemAvailable)",
       [](const GuestState& g) { return g.usable_kib; }},
      {"guest_guard_bytes", "The usable memory the policy keeps the guest above",
       [](const GuestState& g) { return g.guard_kib; }},
  };
  for (const auto& f : k_fields) {
    metric(f.name, "gauge", f.help);
    for (const auto& g : s.guests) {
      if (auto v = f.get(g)) {
        out += fmt::format("vboxkvm_balloonctrl_{}{{{}}} {}\n", f.name, guest(g), *v * 1024);
      }
    }
  }
  return out;
}

std::optional<ServiceState> read_state(const std::filesystem::path& path) {
  auto text = sys::read_text_file(path, false);
  return text ? ServiceState::from_json(*text) : std::nullopt;
}

void write_state(const std::filesystem::path& path, const ServiceState& state) {
  sys::write_file_atomic(path, state.to_json(), 0600, false);
}

} // namespace vbm::balloon
