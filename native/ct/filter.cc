#include "ct/filter.h"

#include <arpa/inet.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <netinet/in.h>

#include <cstring>

namespace nfct {
namespace ct {

namespace {

// The kernel's CTA_FILTER tuple flags (nf_conntrack_netlink, Linux 5.8+).
constexpr uint32_t kFilterIpSrc = 1u << 0;
constexpr uint32_t kFilterIpDst = 1u << 1;
constexpr uint32_t kFilterProtoNum = 1u << 3;
constexpr uint32_t kFilterSrcPort = 1u << 4;
constexpr uint32_t kFilterDstPort = 1u << 5;

bool ReadInt(const Napi::Object& o, const char* key, int64_t* out) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return false;
  *out = v.As<Napi::Number>().Int64Value();
  return true;
}

void ReadAddr(const Napi::Object& o, const char* key, const char* prefix_key, AddrMatch* m) {
  Napi::Value v = o.Get(key);
  if (!v.IsBuffer()) return;
  auto buf = v.As<Napi::Buffer<uint8_t>>();
  size_t n = buf.Length() > 16 ? 16 : buf.Length();
  memcpy(m->bytes, buf.Data(), n);
  int64_t prefix = static_cast<int64_t>(n) * 8;
  ReadInt(o, prefix_key, &prefix);
  m->prefix = static_cast<uint8_t>(prefix);
  m->set = true;
}

void ReadTuple(const Napi::Object& o, const char* which, TupleMatch* t) {
  Napi::Value v = o.Get(which);
  if (!v.IsObject()) return;
  Napi::Object to = v.As<Napi::Object>();
  ReadAddr(to, "src", "srcPrefix", &t->src);
  ReadAddr(to, "dst", "dstPrefix", &t->dst);
  int64_t n;
  if (ReadInt(to, "srcPort", &n)) t->sport = static_cast<int32_t>(n);
  if (ReadInt(to, "dstPort", &n)) t->dport = static_cast<int32_t>(n);
  if (ReadInt(to, "zone", &n)) t->zone = static_cast<int32_t>(n);
}

bool AddrMatches(const AddrMatch& m, const uint8_t* addr) {
  if (!m.set) return true;
  const int full = m.prefix / 8;
  if (memcmp(m.bytes, addr, full) != 0) return false;
  const int rest = m.prefix % 8;
  if (rest == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xff00u >> rest);
  return (m.bytes[full] & mask) == (addr[full] & mask);
}

bool TupleMatches(const TupleMatch& m, const Flow& flow, uint32_t base, int which) {
  const uint32_t* t = &flow.w[base];
  if (!AddrMatches(m.src, flow.addr[which][0])) return false;
  if (!AddrMatches(m.dst, flow.addr[which][1])) return false;
  if (m.sport >= 0 || m.dport >= 0) {
    if (!(t[TUPLE_META] & TUPLE_HAS_PORTS)) return false;
    if (m.sport >= 0 && static_cast<uint32_t>(m.sport) != (t[TUPLE_PORTS] & 0xffffu)) return false;
    if (m.dport >= 0 && static_cast<uint32_t>(m.dport) != (t[TUPLE_PORTS] >> 16)) return false;
  }
  if (m.zone >= 0) {
    const uint32_t zone = (t[TUPLE_META] & TUPLE_HAS_ZONE) ? t[TUPLE_ZONE] : 0;
    if (static_cast<uint32_t>(m.zone) != zone) return false;
  }
  return true;
}

// The kernel matches addresses exactly, so only a full-length prefix can go to it. IPv4 only:
// the kernel's IPv6 comparison in ctnetlink_filter_match_tuple() is inverted (it drops the
// entries whose address equals the filter's), so IPv6 addresses are matched here instead.
bool KernelAddr(const AddrMatch& m, uint8_t family) { return m.set && family == AF_INET && m.prefix == 32; }

uint32_t KernelTupleFlags(const FlowFilter& f, const TupleMatch& t) {
  uint32_t flags = 0;
  if (f.family != 0 && KernelAddr(t.src, f.family)) flags |= kFilterIpSrc;
  if (f.family != 0 && KernelAddr(t.dst, f.family)) flags |= kFilterIpDst;
  if (f.l4proto >= 0) {
    flags |= kFilterProtoNum;
    // The kernel compares ports for TCP and UDP only.
    if (f.l4proto == IPPROTO_TCP || f.l4proto == IPPROTO_UDP) {
      if (t.sport >= 0) flags |= kFilterSrcPort;
      if (t.dport >= 0) flags |= kFilterDstPort;
    }
  }
  return flags;
}

void PutKernelTuple(const FlowFilter& f, const TupleMatch& t, uint32_t flags, uint16_t type, nlmsghdr* nlh) {
  nlattr* tuple = mnl_attr_nest_start(nlh, type);
  nlattr* ip = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
  const bool v6 = f.family == AF_INET6;
  if (flags & kFilterIpSrc) {
    mnl_attr_put(nlh, v6 ? CTA_IP_V6_SRC : CTA_IP_V4_SRC, v6 ? 16 : 4, t.src.bytes);
  }
  if (flags & kFilterIpDst) {
    mnl_attr_put(nlh, v6 ? CTA_IP_V6_DST : CTA_IP_V4_DST, v6 ? 16 : 4, t.dst.bytes);
  }
  mnl_attr_nest_end(nlh, ip);
  nlattr* proto = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
  if (flags & kFilterProtoNum) mnl_attr_put_u8(nlh, CTA_PROTO_NUM, static_cast<uint8_t>(f.l4proto));
  if (flags & kFilterSrcPort) mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, htons(t.sport));
  if (flags & kFilterDstPort) mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons(t.dport));
  mnl_attr_nest_end(nlh, proto);
  mnl_attr_nest_end(nlh, tuple);
}

}  // namespace

bool FlowFilter::empty() const {
  return family == 0 && l4proto < 0 && !orig.src.set && !orig.dst.set && orig.sport < 0 && orig.dport < 0 &&
         orig.zone < 0 && !reply.src.set && !reply.dst.set && reply.sport < 0 && reply.dport < 0 && reply.zone < 0 &&
         !mark_set && !status_set && zone < 0 && tcp_states == 0 && !labels_set;
}

bool ParseFilter(const Napi::Value& v, FlowFilter* out) {
  *out = FlowFilter();
  if (v.IsUndefined() || v.IsNull()) return true;
  if (!v.IsObject()) {
    Napi::TypeError::New(v.Env(), "native filter: object expected").ThrowAsJavaScriptException();
    return false;
  }
  Napi::Object o = v.As<Napi::Object>();
  int64_t n;
  if (ReadInt(o, "family", &n)) out->family = static_cast<uint8_t>(n);
  if (ReadInt(o, "protocol", &n)) out->l4proto = static_cast<int32_t>(n);
  ReadTuple(o, "orig", &out->orig);
  ReadTuple(o, "reply", &out->reply);
  if (ReadInt(o, "mark", &n)) {
    out->mark_set = true;
    out->mark = static_cast<uint32_t>(n);
    out->mark_mask = 0xffffffffu;
    if (ReadInt(o, "markMask", &n)) out->mark_mask = static_cast<uint32_t>(n);
  }
  if (ReadInt(o, "status", &n)) {
    out->status_set = true;
    out->status = static_cast<uint32_t>(n);
    out->status_mask = out->status;
    if (ReadInt(o, "statusMask", &n)) out->status_mask = static_cast<uint32_t>(n);
  }
  if (ReadInt(o, "zone", &n)) out->zone = static_cast<int32_t>(n);
  if (ReadInt(o, "tcpStates", &n)) out->tcp_states = static_cast<uint32_t>(n);
  Napi::Value labels = o.Get("labels");
  if (labels.IsTypedArray()) {
    auto arr = labels.As<Napi::Uint32Array>();
    for (size_t i = 0; i < 4 && i < arr.ElementLength(); i++) out->labels[i] = arr[i];
    out->labels_set = true;
  }
  Napi::Value kernel = o.Get("kernel");
  if (kernel.IsBoolean()) out->kernel = kernel.As<Napi::Boolean>().Value();
  return !v.Env().IsExceptionPending();
}

bool AddKernelFilter(const FlowFilter& f, NlRequest* req) {
  if (!f.kernel) return false;
  nlmsghdr* nlh = req->header();
  bool added = false;
  if (f.mark_set) {
    mnl_attr_put_u32(nlh, CTA_MARK, htonl(f.mark));
    mnl_attr_put_u32(nlh, CTA_MARK_MASK, htonl(f.mark_mask));
    added = true;
  }
  if (f.status_set && f.status_mask != 0) {
    mnl_attr_put_u32(nlh, CTA_STATUS, htonl(f.status));
    mnl_attr_put_u32(nlh, CTA_STATUS_MASK, htonl(f.status_mask));
    added = true;
  }
  // The kernel parses a tuple filter only for a given family (else EOPNOTSUPP).
  const uint32_t orig_flags = f.family != 0 ? KernelTupleFlags(f, f.orig) : 0;
  // A reply-direction protocol filter would repeat the original one; only send it with more.
  uint32_t reply_flags = f.family != 0 ? KernelTupleFlags(f, f.reply) : 0;
  if (reply_flags == kFilterProtoNum) reply_flags = 0;
  if (orig_flags != 0 || reply_flags != 0) {
    nlattr* nest = mnl_attr_nest_start(nlh, CTA_FILTER);
    mnl_attr_put_u32(nlh, CTA_FILTER_ORIG_FLAGS, orig_flags);
    mnl_attr_put_u32(nlh, CTA_FILTER_REPLY_FLAGS, reply_flags);
    mnl_attr_nest_end(nlh, nest);
    if (orig_flags != 0) PutKernelTuple(f, f.orig, orig_flags, CTA_TUPLE_ORIG, nlh);
    if (reply_flags != 0) PutKernelTuple(f, f.reply, reply_flags, CTA_TUPLE_REPLY, nlh);
    added = true;
  }
  return added;
}

bool Matches(const FlowFilter& f, const Flow& flow) {
  if (f.family != 0 && flow.family() != f.family) return false;
  if (f.l4proto >= 0 && flow.l4proto() != static_cast<uint8_t>(f.l4proto)) return false;
  if (!TupleMatches(f.orig, flow, FLOW_ORIG, 0)) return false;
  if (!TupleMatches(f.reply, flow, FLOW_REPLY, 1)) return false;
  if (f.mark_set) {
    const uint32_t mark = flow.has(FLOW_HAS_MARK) ? flow.w[FLOW_MARK] : 0;
    if ((mark & f.mark_mask) != f.mark) return false;
  }
  if (f.status_set && (flow.w[FLOW_STATUS] & f.status_mask) != f.status) return false;
  if (f.zone >= 0) {
    const uint32_t zone = flow.has(FLOW_HAS_ZONE) ? flow.w[FLOW_ZONE] : 0;
    if (static_cast<uint32_t>(f.zone) != zone) return false;
  }
  if (f.tcp_states != 0) {
    if (!flow.has(FLOW_HAS_TCP)) return false;
    const uint32_t state = flow.w[FLOW_PROTO];
    if (state >= 32 || !(f.tcp_states & (1u << state))) return false;
  }
  if (f.labels_set) {
    for (int i = 0; i < 4; i++) {
      if ((flow.w[FLOW_LABELS + i] & f.labels[i]) != f.labels[i]) return false;
    }
  }
  return true;
}

}  // namespace ct
}  // namespace nfct
