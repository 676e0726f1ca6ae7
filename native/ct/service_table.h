// The Services of a ruleset (lib/k8s/services.ts) as native code looks them up while it formats
// -L lines (text.cc): per original destination, the Service port's name and its endpoints, so
// that `nfct -L --services` appends ` service=NAME endpoint=IP:PORT` without a Flow object per
// entry. Built once per listing from a text the Services object writes.
#pragma once

#include <napi.h>

#include <string>
#include <unordered_map>
#include <unordered_set>

namespace nfct {
namespace ct {

struct ServicePortEntry {
  std::string name;
  // "10.244.1.7:53", "[fd00::7]:53", or a bare address for an endpoint that keeps the port.
  std::unordered_set<std::string> endpoints;
};

struct ServiceTable {
  // Key: "<protonum> <address> <port>", '*' for any protocol or port.
  std::unordered_map<std::string, ServicePortEntry> ports;
  bool wildcards = false;

  const ServicePortEntry* Find(unsigned proto, const char* addr, size_t addr_len, unsigned port, std::string* scratch) const;
  bool IsEndpoint(const ServicePortEntry& e, const char* addr, size_t addr_len, unsigned port, bool v6, std::string* scratch) const;
};

// The table a `services` option of formatFlows() holds, or null when the value is not one.
const ServiceTable* ServiceTableOf(napi_env env, napi_value value);

void InitServiceTable(Napi::Env env, Napi::Object exports);

}  // namespace ct
}  // namespace nfct
