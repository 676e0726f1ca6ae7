// The NAT-relevant part of a namespace's nf_tables ruleset, read over netlink (the nft tool
// takes seconds to list a ruleset of kube-proxy's size; the kernel's dump takes milliseconds):
// per rule, the destination it matches, its jumps, its DNAT targets, the verdict map it looks
// its destination up in, its comment; per verdict map, its elements. Decoded here from the
// rule's expressions (registers followed from payload/meta/immediate loads to cmp, lookup and
// nat), including iptables-nft's compat `comment` match and `DNAT` target. The result is a
// JSON text lib/k8s/nft-native.ts reads into the shape of lib/k8s/rules.ts. Attributes are
// read with attr.h, every length checked (libnftnl's parser exits the process on surprises).
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nf_tables_compat.h>
#include <linux/netfilter/nfnetlink.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "addon.h"
#include "async_op.h"
#include "attr.h"
#include "errors.h"
#include "netns.h"
#include "nl.h"

namespace nfct {
namespace trace {

namespace {

void JsonStr(std::string* out, const std::string& s) {
  out->push_back('"');
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(static_cast<char>(c));
    } else if (c < 0x20) {
      char buf[8];
      snprintf(buf, sizeof buf, "\\u%04x", c);
      out->append(buf);
    } else {
      out->push_back(static_cast<char>(c));
    }
  }
  out->push_back('"');
}

std::string AddrText(const uint8_t* p, size_t len) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (len == 4) inet_ntop(AF_INET, p, buf, sizeof buf);
  else if (len == 16) inet_ntop(AF_INET6, p, buf, sizeof buf);
  return buf;
}

const char* L4Name(uint8_t p) {
  return p == IPPROTO_TCP ? "tcp" : p == IPPROTO_UDP ? "udp" : p == IPPROTO_SCTP ? "sctp" : nullptr;
}

// The comment of a rule's or element's user data (TLV: type u8, length u8, value).
std::string UdataComment(const nlattr* a, uint8_t type) {
  const auto* p = static_cast<const uint8_t*>(attr::Payload(a));
  size_t left = attr::PayloadLen(a);
  while (left >= 2) {
    const uint8_t t = p[0];
    const uint8_t len = p[1];
    if (static_cast<size_t>(len) + 2 > left) break;
    if (t == type && len > 0)
      return std::string(reinterpret_cast<const char*>(p + 2), strnlen(reinterpret_cast<const char*>(p + 2), len));
    p += 2 + len;
    left -= 2 + len;
  }
  return "";
}

// What a register holds, as far as this reader follows it.
struct Reg {
  enum Kind { kNone, kPayload, kMeta, kImm, kNumgen } kind = kNone;
  uint32_t base = 0, offset = 0, len = 0, key = 0;
  std::string data;
};

// Registers by 32-bit index: NFT_REG_1..4 are 128 bits wide (32-bit 8..23 overlay them).
uint32_t Reg32(uint32_t r) { return (r >= 1 && r <= 4) ? 8 + (r - 1) * 4 : r; }

struct Data {
  std::string value;
  bool verdict = false;
  int32_t code = 0;
  std::string chain;
};

Data ReadData(const nlattr* a) {
  Data d;
  attr::ForEachNested(a, [&](const nlattr* x) {
    if (attr::Type(x) == NFTA_DATA_VALUE)
      d.value.assign(static_cast<const char*>(attr::Payload(x)), attr::PayloadLen(x));
    if (attr::Type(x) == NFTA_DATA_VERDICT) {
      d.verdict = true;
      attr::ForEachNested(x, [&](const nlattr* v) {
        if (attr::Type(v) == NFTA_VERDICT_CODE && attr::Len(v, 4)) d.code = static_cast<int32_t>(attr::Be32(v));
        if (attr::Type(v) == NFTA_VERDICT_CHAIN) d.chain = attr::Str(v);
        return true;
      });
    }
    return true;
  });
  return d;
}

uint32_t U32(const nlattr* a) { return attr::Len(a, 4) ? attr::Be32(a) : 0; }

struct Table {
  std::string family;
  std::string rules;  // JSON objects, comma-separated
  bool xt = false;
  std::vector<std::string> maps;  // verdict maps to read
  std::string elements;           // "name": [...] pairs
};

const char* FamilyName(uint8_t f) {
  switch (f) {
    case NFPROTO_IPV4: return "ip";
    case NFPROTO_IPV6: return "ip6";
    case NFPROTO_INET: return "inet";
    case NFPROTO_ARP: return "arp";
    case NFPROTO_BRIDGE: return "bridge";
    case NFPROTO_NETDEV: return "netdev";
    default: return "unknown";
  }
}

// One rule message into its JSON object; marks the table when it holds compat expressions.
void DecodeRule(const nlmsghdr* nlh, std::map<std::string, Table>* tables) {
  const auto* nfg = static_cast<const nfgenmsg*>(mnl_nlmsg_get_payload(nlh));
  std::string table, chain, comment;
  uint64_t handle = 0;
  const nlattr* exprs = nullptr;
  attr::ForEachInMessage(nlh, sizeof(nfgenmsg), [&](const nlattr* a) {
    switch (attr::Type(a)) {
      case NFTA_RULE_TABLE: table = attr::Str(a); break;
      case NFTA_RULE_CHAIN: chain = attr::Str(a); break;
      case NFTA_RULE_HANDLE:
        if (attr::Len(a, 8)) handle = attr::Be64(a);
        break;
      case NFTA_RULE_EXPRESSIONS: exprs = a; break;
      case NFTA_RULE_USERDATA: comment = UdataComment(a, 0); break;
      default: break;
    }
    return true;
  });
  const bool v6family = nfg->nfgen_family == NFPROTO_IPV6;
  Table& t = (*tables)[std::string(FamilyName(nfg->nfgen_family)) + " " + table];
  t.family = FamilyName(nfg->nfgen_family);
  std::map<uint32_t, Reg> regs;
  std::string dst, proto, jumps, dnat, vmap, anon;
  int port = -1;
  if (exprs != nullptr) {
    attr::ForEachNested(exprs, [&](const nlattr* elem) {
      std::string name;
      const nlattr* data = nullptr;
      attr::ForEachNested(elem, [&](const nlattr* x) {
        if (attr::Type(x) == NFTA_EXPR_NAME) name = attr::Str(x);
        if (attr::Type(x) == NFTA_EXPR_DATA) data = x;
        return true;
      });
      if (data == nullptr) return true;
      std::map<uint16_t, const nlattr*> f;
      attr::ForEachNested(data, [&](const nlattr* x) {
        f[attr::Type(x)] = x;
        return true;
      });
      auto u = [&](uint16_t k) { return f.count(k) ? U32(f[k]) : 0u; };
      if (name == "payload" && f.count(NFTA_PAYLOAD_DREG)) {
        Reg r;
        r.kind = Reg::kPayload;
        r.base = u(NFTA_PAYLOAD_BASE);
        r.offset = u(NFTA_PAYLOAD_OFFSET);
        r.len = u(NFTA_PAYLOAD_LEN);
        regs[Reg32(u(NFTA_PAYLOAD_DREG))] = r;
      } else if (name == "meta" && f.count(NFTA_META_DREG)) {
        Reg r;
        r.kind = Reg::kMeta;
        r.key = u(NFTA_META_KEY);
        regs[Reg32(u(NFTA_META_DREG))] = r;
      } else if (name == "numgen" && f.count(NFTA_NG_DREG)) {
        Reg r;
        r.kind = Reg::kNumgen;
        regs[Reg32(u(NFTA_NG_DREG))] = r;
      } else if (name == "immediate" && f.count(NFTA_IMMEDIATE_DATA)) {
        const Data d = ReadData(f[NFTA_IMMEDIATE_DATA]);
        const uint32_t dreg = u(NFTA_IMMEDIATE_DREG);
        if (dreg == NFT_REG_VERDICT) {
          if ((d.code == NFT_JUMP || d.code == NFT_GOTO) && !d.chain.empty()) {
            if (!jumps.empty()) jumps.push_back(',');
            JsonStr(&jumps, d.chain);
          }
        } else {
          Reg r;
          r.kind = Reg::kImm;
          r.data = d.value;
          regs[Reg32(dreg)] = r;
        }
      } else if (name == "cmp" && f.count(NFTA_CMP_DATA)) {
        if (u(NFTA_CMP_OP) != NFT_CMP_EQ) return true;
        const Data d = ReadData(f[NFTA_CMP_DATA]);
        const Reg& r = regs[Reg32(u(NFTA_CMP_SREG))];
        const auto* p = reinterpret_cast<const uint8_t*>(d.value.data());
        if (r.kind == Reg::kPayload && r.base == NFT_PAYLOAD_NETWORK_HEADER && r.offset == 16 && r.len == 4 &&
            d.value.size() == 4 && !v6family) {
          dst = AddrText(p, 4);
        } else if (r.kind == Reg::kPayload && r.base == NFT_PAYLOAD_NETWORK_HEADER && r.offset == 24 && r.len == 16 &&
                   d.value.size() == 16 && nfg->nfgen_family != NFPROTO_IPV4) {
          dst = AddrText(p, 16);
        } else if (r.kind == Reg::kPayload && r.base == NFT_PAYLOAD_TRANSPORT_HEADER && r.offset == 2 && r.len == 2 &&
                   d.value.size() == 2) {
          port = (p[0] << 8) | p[1];
        } else if (r.kind == Reg::kMeta && r.key == NFT_META_L4PROTO && d.value.size() == 1 && L4Name(p[0])) {
          proto = L4Name(p[0]);
        }
      } else if (name == "lookup" && f.count(NFTA_LOOKUP_SET) && f.count(NFTA_LOOKUP_DREG) &&
                 u(NFTA_LOOKUP_DREG) == NFT_REG_VERDICT) {
        const std::string set = attr::Str(f[NFTA_LOOKUP_SET]);
        const Reg& r = regs[Reg32(u(NFTA_LOOKUP_SREG))];
        if (r.kind == Reg::kPayload && r.base == NFT_PAYLOAD_NETWORK_HEADER && (r.offset == 16 || r.offset == 24))
          vmap = set;
        else anon = set;  // numgen or anything else: every chain of the map is a jump
        t.maps.push_back(set);
      } else if (name == "nat" && u(NFTA_NAT_TYPE) == NFT_NAT_DNAT) {
        const Reg& a = regs[Reg32(u(NFTA_NAT_REG_ADDR_MIN))];
        if (a.kind != Reg::kImm || (a.data.size() != 4 && a.data.size() != 16)) return true;
        std::string ep = "{\"address\":";
        JsonStr(&ep, AddrText(reinterpret_cast<const uint8_t*>(a.data.data()), a.data.size()));
        if (f.count(NFTA_NAT_REG_PROTO_MIN)) {
          const Reg& pr = regs[Reg32(u(NFTA_NAT_REG_PROTO_MIN))];
          if (pr.kind == Reg::kImm && pr.data.size() >= 2) {
            const auto* q = reinterpret_cast<const uint8_t*>(pr.data.data());
            ep += ",\"port\":" + std::to_string((q[0] << 8) | q[1]);
          }
        }
        ep += "}";
        if (!dnat.empty()) dnat.push_back(',');
        dnat += ep;
      } else if (name == "match" || name == "target") {
        t.xt = true;
        const std::string xt = f.count(NFTA_MATCH_NAME) ? attr::Str(f[NFTA_MATCH_NAME]) : "";
        const nlattr* info = f.count(NFTA_MATCH_INFO) ? f[NFTA_MATCH_INFO] : nullptr;
        if (info == nullptr) return true;
        const auto* p = static_cast<const uint8_t*>(attr::Payload(info));
        const size_t len = attr::PayloadLen(info);
        if (name == "match" && xt == "comment") {
          comment.assign(reinterpret_cast<const char*>(p), strnlen(reinterpret_cast<const char*>(p), len));
        } else if (name == "match" && (xt == "udp" || xt == "tcp") && len >= 8) {
          // struct xt_udp / xt_tcp: spts[2], dpts[2] in host order, then flags.
          uint16_t dpts[2];
          memcpy(dpts, p + 4, 4);
          const uint8_t inv = xt == "udp" ? p[8] : (len > 11 ? p[11] : 0);
          if (dpts[0] == dpts[1] && !(inv & 0x02)) port = dpts[0];
          if (proto.empty()) proto = xt;
        } else if (name == "target" && xt == "DNAT") {
          // rev 0: nf_nat_ipv4_multi_range_compat; rev 1/2: nf_nat_range(2). Flags bit 0: an
          // address, bit 1: a port.
          const uint32_t rev = f.count(NFTA_TARGET_REV) ? U32(f[NFTA_TARGET_REV]) : 0;
          std::string addr;
          int nport = -1;
          if (rev == 0 && len >= 20) {
            uint32_t flags;
            memcpy(&flags, p + 4, 4);
            if (flags & 1) addr = AddrText(p + 8, 4);
            if (flags & 2) nport = (p[16] << 8) | p[17];
          } else if (rev >= 1 && len >= 40) {
            uint32_t flags;
            memcpy(&flags, p, 4);
            if (flags & 1) addr = AddrText(p + 4, v6family ? 16 : 4);
            if (flags & 2) nport = (p[36] << 8) | p[37];
          }
          if (!addr.empty()) {
            std::string ep = "{\"address\":";
            JsonStr(&ep, addr);
            if (nport >= 0) ep += ",\"port\":" + std::to_string(nport);
            ep += "}";
            if (!dnat.empty()) dnat.push_back(',');
            dnat += ep;
          }
        }
      }
      return true;
    });
  }
  std::string o = "{\"chain\":";
  JsonStr(&o, chain);
  o += ",\"handle\":" + std::to_string(handle);
  if (!dst.empty()) {
    o += ",\"dst\":{\"address\":";
    JsonStr(&o, dst);
    if (port >= 0) o += ",\"port\":" + std::to_string(port);
    if (!proto.empty()) o += ",\"protocol\":\"" + proto + "\"";
    o += "}";
  }
  if (!comment.empty()) {
    o += ",\"comment\":";
    JsonStr(&o, comment);
  }
  o += ",\"jumps\":[" + jumps + "],\"dnat\":[" + dnat + "]";
  if (!vmap.empty()) {
    o += ",\"vmap\":";
    JsonStr(&o, vmap);
  }
  if (!anon.empty()) {
    o += ",\"anonymousMap\":";
    JsonStr(&o, anon);
  }
  o += "}";
  if (!t.rules.empty()) t.rules.push_back(',');
  t.rules += o;
}

// The elements of one verdict map: key bytes as (address, protocol, port) where the key is
// kube-proxy's `daddr . l4proto . dport`, else only the chain.
void ReadElements(int fd, uint8_t family, const std::string& table, const std::string& set, bool v6, std::string* out,
                  Failure* f) {
  NlRequest req(NFNL_SUBSYS_NFTABLES, NFT_MSG_GETSETELEM, NLM_F_DUMP, family);
  mnl_attr_put_strz(req.header(), NFTA_SET_ELEM_LIST_TABLE, table.c_str());
  mnl_attr_put_strz(req.header(), NFTA_SET_ELEM_LIST_SET, set.c_str());
  std::string list;
  NlTransact(
      fd, req,
      [&](const nlmsghdr* nlh) {
        attr::ForEachInMessage(nlh, sizeof(nfgenmsg), [&](const nlattr* a) {
          if (attr::Type(a) != NFTA_SET_ELEM_LIST_ELEMENTS) return true;
          attr::ForEachNested(a, [&](const nlattr* el) {
            Data key, data;
            std::string comment;
            attr::ForEachNested(el, [&](const nlattr* x) {
              if (attr::Type(x) == NFTA_SET_ELEM_KEY) key = ReadData(x);
              if (attr::Type(x) == NFTA_SET_ELEM_DATA) data = ReadData(x);
              if (attr::Type(x) == NFTA_SET_ELEM_USERDATA) comment = UdataComment(x, 0);
              return true;
            });
            if (!data.verdict) return true;
            std::string o = "{\"chain\":";
            JsonStr(&o, (data.code == NFT_JUMP || data.code == NFT_GOTO) ? data.chain : "");
            const size_t alen = v6 ? 16 : 4;
            const auto* k = reinterpret_cast<const uint8_t*>(key.value.data());
            if (key.value.size() == alen + 8 && L4Name(k[alen])) {
              o += ",\"address\":";
              JsonStr(&o, AddrText(k, alen));
              o += std::string(",\"protocol\":\"") + L4Name(k[alen]) +
                   "\",\"port\":" + std::to_string((k[alen + 4] << 8) | k[alen + 5]);
            }
            if (!comment.empty()) {
              o += ",\"comment\":";
              JsonStr(&o, comment);
            }
            o += "}";
            if (!list.empty()) list.push_back(',');
            list += o;
            return true;
          });
          return true;
        });
      },
      f);
  if (!out->empty()) out->push_back(',');
  JsonStr(out, set);
  *out += ":[" + list + "]";
}

std::string ReadRuleset(int fd, const std::vector<std::string>& skip_anonymous, Failure* f) {
  std::map<std::string, Table> tables;
  NlRequest rules(NFNL_SUBSYS_NFTABLES, NFT_MSG_GETRULE, NLM_F_DUMP, NFPROTO_UNSPEC);
  if (!NlTransact(
          fd, rules,
          [&](const nlmsghdr* nlh) {
            if ((nlh->nlmsg_type & 0xff) == NFT_MSG_NEWRULE && nlh->nlmsg_len >= NLMSG_LENGTH(sizeof(nfgenmsg)))
              DecodeRule(nlh, &tables);
          },
          f)) {
    return "";
  }
  std::string out = "{\"tables\":[";
  bool first = true;
  for (auto& [key, t] : tables) {
    const size_t sp = key.find(' ');
    const std::string name = key.substr(sp + 1);
    const uint8_t family = t.family == "ip"       ? NFPROTO_IPV4
                           : t.family == "ip6"    ? NFPROTO_IPV6
                           : t.family == "inet"   ? NFPROTO_INET
                           : t.family == "bridge" ? NFPROTO_BRIDGE
                           : t.family == "arp"    ? NFPROTO_ARP
                                                  : NFPROTO_NETDEV;
    std::string elements;
    std::vector<std::string> done;
    bool skip = false;
    for (const auto& k : skip_anonymous) skip = skip || k == key;
    for (const auto& m : t.maps) {
      // One dump per map, and the kernel finds a set by walking its table's list: thousands of
      // anonymous maps cost seconds. The caller names the tables whose chains tell it instead.
      if (skip && m.compare(0, 2, "__") == 0) continue;
      bool seen = false;
      for (const auto& d : done) seen = seen || d == m;
      if (seen) continue;
      done.push_back(m);
      Failure ignored;  // a map gone meanwhile: no elements
      ReadElements(fd, family, name, m, t.family == "ip6", &elements, &ignored);
    }
    if (!first) out.push_back(',');
    first = false;
    out += "{\"family\":\"" + t.family + "\",\"name\":";
    JsonStr(&out, name);
    out += std::string(",\"xt\":") + (t.xt ? "true" : "false") + ",\"rules\":[" + t.rules + "],\"maps\":{" + elements +
           "}}";
  }
  out += "]";
  return out;
}

std::string ReadFile(const char* path) {
  std::string s;
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return s;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) s.append(buf, static_cast<size_t>(n));
  close(fd);
  return s;
}

}  // namespace

// nftRuleset(nsPath | null, skipAnonymousMaps?: string[] ('ip kube-proxy', ...)): Promise<string>,
// the JSON described above, with the names of the
// legacy iptables tables present in the namespace ({"legacy":{"ipv4":"nat\n...","ipv6":""}}).
Napi::Value NftRuleset(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string ns = info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  std::vector<std::string> skip;
  if (info.Length() > 1 && info[1].IsArray()) {
    Napi::Array a = info[1].As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) {
      Napi::Value v = a.Get(i);
      if (v.IsString()) skip.push_back(v.As<Napi::String>().Utf8Value());
    }
  }
  auto result = std::make_shared<std::string>();
  auto exec = [ns, skip, result](Failure* f) {
    // The socket is opened, and /proc/thread-self/net read, by a thread inside the namespace.
    RunInNamespace(ns, f, [&]() {
      const int fd = NlOpen(NETLINK_NETFILTER, f);
      if (fd < 0) return;
      std::string json = ReadRuleset(fd, skip, f);
      close(fd);
      if (json.empty()) return;
      json += ",\"legacy\":{\"ipv4\":";
      JsonStr(&json, ReadFile("/proc/thread-self/net/ip_tables_names"));
      json += ",\"ipv6\":";
      JsonStr(&json, ReadFile("/proc/thread-self/net/ip6_tables_names"));
      json += "}}";
      *result = std::move(json);
    });
  };
  auto done = [result](Napi::Env e) -> Napi::Value { return Napi::String::New(e, *result); };
  return QueueOp(env, "nfct-nft-ruleset", std::move(exec), std::move(done));
}

void InitRuleset(Napi::Env env, Napi::Object exports) {
  exports.Set("nftRuleset", Napi::Function::New(env, NftRuleset, "nftRuleset"));
}

}  // namespace trace
}  // namespace nfct
