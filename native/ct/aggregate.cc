// Grouping the table natively: a decoder that keys and counts each matching flow of a dump and
// hands JS only the best groups, on the final batch.
#include "ct/aggregate.h"

#include <arpa/inet.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

#include "ct/conntrack.h"
#include "ct/control.h"
#include "ct/filter.h"
#include "ct/flow.h"
#include "stream.h"

namespace nfct {
namespace ct {

namespace {

struct Group {
  uint64_t count = 0;
  uint64_t counters[4] = {0, 0, 0, 0};  // orig packets, orig bytes, reply packets, reply bytes
  uint32_t flags = 0;
};

uint64_t Word64(const uint32_t* w) { return static_cast<uint64_t>(w[0]) | (static_cast<uint64_t>(w[1]) << 32); }

class AggregateDecoder : public Decoder {
 public:
  AggregateDecoder(const FlowFilter& filter, std::vector<uint32_t> keys, uint32_t sort, uint32_t top)
      : filter_(filter), keys_(std::move(keys)), sort_(sort), top_(top) {
    key_.resize(keys_.size() * AGG_KEY_WORDS * sizeof(uint32_t));
  }

  void OnMessage(const nlmsghdr* nlh, Batch* batch) override {
    if (!DecodeFlowMessage(nlh, &flow_)) {
      batch->malformed++;
      return;
    }
    if (!Matches(filter_, flow_)) return;
    auto* k = reinterpret_cast<uint32_t*>(&key_[0]);
    for (uint32_t i = 0; i < keys_.size(); i++) {
      KeyOf(keys_[i] & AGG_BY_KEY_MASK, k + i * AGG_KEY_WORDS);
      CutAddress(keys_[i], k + i * AGG_KEY_WORDS);
    }
    Group& g = groups_[key_];
    Add(&g);
    Add(&total_);
  }

  void Finish(Batch* batch, Failure* /*failure*/) override {
    std::vector<const std::pair<const std::string, Group>*> order;
    order.reserve(groups_.size());
    for (const auto& e : groups_) order.push_back(&e);
    const size_t n = top_ == 0 ? order.size() : std::min<size_t>(top_, order.size());
    auto better = [this](const std::pair<const std::string, Group>* a, const std::pair<const std::string, Group>* b) {
      const uint64_t ma = Metric(a->second), mb = Metric(b->second);
      if (ma != mb) return ma > mb;
      if (a->second.count != b->second.count) return a->second.count > b->second.count;
      return a->first < b->first;
    };
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(n), order.end(), better);
    const std::string zero(key_.size(), '\0');
    Append(zero, total_, batch);
    for (size_t i = 0; i < n; i++) Append(order[i]->first, order[i]->second, batch);
    batch->count = static_cast<uint32_t>(n + 1);
    batch->tally[0] = static_cast<uint32_t>(total_.count);
    batch->tally[1] = static_cast<uint32_t>(groups_.size());
  }

 private:
  void Add(Group* g) const {
    g->count++;
    if (flow_.has(FLOW_HAS_COUNTERS_ORIG) || flow_.has(FLOW_HAS_COUNTERS_REPLY)) {
      g->flags |= AGG_GROUP_HAS_COUNTERS;
      for (int c = 0; c < 4; c++) g->counters[c] += Word64(&flow_.w[FLOW_COUNTERS + 2 * c]);
    }
  }

  uint64_t Metric(const Group& g) const {
    if (sort_ == AGG_SORT_PACKETS) return g.counters[0] + g.counters[2];
    if (sort_ == AGG_SORT_BYTES) return g.counters[1] + g.counters[3];
    return g.count;
  }

  // Writes one key's words: meta (AKM_* bits, family << 8 for addresses), value, address.
  void KeyOf(uint32_t key, uint32_t* k) const {
    std::memset(k, 0, AGG_KEY_WORDS * sizeof(uint32_t));
    const uint32_t family = flow_.family();
    const uint32_t* orig = &flow_.w[FLOW_ORIG];
    const uint32_t* reply = &flow_.w[FLOW_REPLY];
    const bool ports = (orig[TUPLE_META] & TUPLE_HAS_PORTS) != 0;
    auto present = [&](uint32_t value) {
      k[AGG_KEY_META] = AGG_KEY_META_PRESENT;
      k[AGG_KEY_VALUE] = value;
    };
    // Only an address carries the family: tcp over IPv4 and over IPv6 are one protocol group.
    auto address = [&](const uint8_t* a) {
      k[AGG_KEY_META] |= family << 8;
      std::memcpy(&k[AGG_KEY_ADDR], a, 16);
    };
    const uint32_t status = flow_.has(FLOW_HAS_STATUS) ? flow_.w[FLOW_STATUS] : 0;
    switch (key) {
      case AGG_BY_FAMILY: present(family); break;
      case AGG_BY_PROTOCOL: present(flow_.l4proto()); break;
      case AGG_BY_SRC:
        if (orig[TUPLE_META] & TUPLE_HAS_ADDRS) present(0), address(flow_.addr[0][0]);
        break;
      case AGG_BY_DST:
        if (orig[TUPLE_META] & TUPLE_HAS_ADDRS) present(0), address(flow_.addr[0][1]);
        break;
      case AGG_BY_REPLY_SRC:
        if (flow_.has(FLOW_HAS_REPLY) && (reply[TUPLE_META] & TUPLE_HAS_ADDRS)) present(0), address(flow_.addr[1][0]);
        break;
      case AGG_BY_SRC_PORT:
        if (ports) present(orig[TUPLE_PORTS] & 0xffffu);
        break;
      case AGG_BY_DST_PORT:
        if (ports) present(orig[TUPLE_PORTS] >> 16);
        break;
      case AGG_BY_STATE:
        if (flow_.has(FLOW_HAS_TCP) || flow_.has(FLOW_HAS_SCTP) || flow_.has(FLOW_HAS_DCCP)) {
          present(flow_.l4proto() | (flow_.w[FLOW_PROTO] << 8));
        }
        break;
      case AGG_BY_MARK: present(flow_.has(FLOW_HAS_MARK) ? flow_.w[FLOW_MARK] : 0); break;
      case AGG_BY_ZONE: present(flow_.has(FLOW_HAS_ZONE) ? flow_.w[FLOW_ZONE] : 0); break;
      case AGG_BY_STATUS: present(status); break;
      case AGG_BY_DNAT:
      case AGG_BY_SNAT: {
        const bool dnat = key == AGG_BY_DNAT;
        if (!(status & (dnat ? IPS_DST_NAT : IPS_SRC_NAT)) || !flow_.has(FLOW_HAS_REPLY)) break;
        const bool rports = (reply[TUPLE_META] & TUPLE_HAS_PORTS) != 0;
        present(rports ? (dnat ? reply[TUPLE_PORTS] & 0xffffu : reply[TUPLE_PORTS] >> 16) : 0);
        if (rports) k[AGG_KEY_META] |= AGG_KEY_META_PORT;
        address(flow_.addr[1][dnat ? 0 : 1]);
        break;
      }
      default: break;
    }
  }

  // An address key with a prefix: the address's bits past it cleared (one group per prefix).
  static void CutAddress(uint32_t key, uint32_t* k) {
    const uint32_t family = (k[AGG_KEY_META] >> 8) & 0xffu;
    if (!(k[AGG_KEY_META] & AGG_KEY_META_PRESENT) || family == 0) return;
    const uint32_t plus1 = (key >> (family == AF_INET6 ? AGG_BY_PREFIX6 : AGG_BY_PREFIX4)) & 0xffu;
    if (plus1 == 0) return;
    const uint32_t bits = family == AF_INET6 ? 128 : 32;
    const uint32_t keep = std::min(plus1 - 1, bits);
    auto* b = reinterpret_cast<uint8_t*>(&k[AGG_KEY_ADDR]);
    for (uint32_t i = 0; i < bits / 8; i++) {
      const uint32_t from = i * 8;
      if (from >= keep) b[i] = 0;
      else if (keep - from < 8) b[i] &= static_cast<uint8_t>(0xffu << (8 - (keep - from)));
    }
  }

  void Append(const std::string& key, const Group& g, Batch* batch) const {
    const auto* k = reinterpret_cast<const uint32_t*>(key.data());
    const size_t words = keys_.size() * AGG_KEY_WORDS;
    batch->words.insert(batch->words.end(), k, k + words);
    batch->words.push_back(static_cast<uint32_t>(g.count));
    for (uint64_t c : g.counters) {
      batch->words.push_back(static_cast<uint32_t>(c));
      batch->words.push_back(static_cast<uint32_t>(c >> 32));
    }
    batch->words.push_back(g.flags);
    char text[INET6_ADDRSTRLEN];
    for (uint32_t i = 0; i < keys_.size(); i++) {
      const uint32_t* kw = k + i * AGG_KEY_WORDS;
      const uint32_t family = (kw[AGG_KEY_META] >> 8) & 0xffu;
      const uint32_t id = keys_[i] & AGG_BY_KEY_MASK;
      const bool addr =
          id == AGG_BY_SRC || id == AGG_BY_DST || id == AGG_BY_REPLY_SRC || id == AGG_BY_DNAT || id == AGG_BY_SNAT;
      if (addr && (kw[AGG_KEY_META] & AGG_KEY_META_PRESENT) &&
          inet_ntop(family == AF_INET6 ? AF_INET6 : AF_INET, &kw[AGG_KEY_ADDR], text, sizeof(text)) != nullptr) {
        batch->strings.append(text);
      }
      batch->strings.push_back('\0');
    }
  }

  FlowFilter filter_;
  std::vector<uint32_t> keys_;
  uint32_t sort_;
  uint32_t top_;
  Flow flow_;
  std::string key_;  // the current flow's key, reused: a lookup of a known group allocates nothing
  std::unordered_map<std::string, Group> groups_;
  Group total_;
};

}  // namespace

// aggregate(filter, keys: number[], sort, top, onBatch): Stream whose final batch holds the
// total and the top groups (native/ct/aggregate.h), and tallies [matched, groups]
Napi::Value Conntrack::Aggregate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 5 || !info[1].IsArray() || !info[2].IsNumber() || !info[3].IsNumber() || !info[4].IsFunction()) {
    ThrowTypeError(env, "aggregate(filter, keys, sort, top, onBatch)");
    return env.Undefined();
  }
  FlowFilter filter;
  if (!ParseFilter(info[0], &filter)) return env.Undefined();
  Napi::Array arr = info[1].As<Napi::Array>();
  std::vector<uint32_t> keys;
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value v = arr.Get(i);
    if (!v.IsNumber() || (v.As<Napi::Number>().Uint32Value() & AGG_BY_KEY_MASK) >= AGG_KEYS)
      return ThrowTypeError(env, "aggregate(): a key is out of range");
    keys.push_back(v.As<Napi::Number>().Uint32Value());
  }
  if (keys.empty() || keys.size() > AGG_MAX_KEYS) return ThrowTypeError(env, "aggregate(): 1 to 8 keys");
  const uint32_t sort = info[2].As<Napi::Number>().Uint32Value();
  const uint32_t top = info[3].As<Napi::Number>().Uint32Value();
  ReaderOptions opt;
  opt.max_batch = 1;  // records appear only on the final batch: nothing to reserve room for
  if (!ReaderOn(env, true, &opt)) return env.Undefined();
  SetDumpRequests(filter, IPCTNL_MSG_CT_GET, &opt);
  const uint32_t words = GroupWords(static_cast<uint32_t>(keys.size()));
  return Stream::Start(env, info[4].As<Napi::Function>(),
                       std::make_unique<AggregateDecoder>(filter, std::move(keys), sort, top), std::move(opt), words);
}

}  // namespace ct
}  // namespace nfct
