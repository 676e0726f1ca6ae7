#include "ct/request.h"

#include <arpa/inet.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <netinet/in.h>

#include <cstring>

namespace nfct {
namespace ct {

namespace {

bool Int(const Napi::Object& o, const char* key, int32_t* out) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) return false;
  *out = v.As<Napi::Number>().Int32Value();
  return true;
}

bool Addr(const Napi::Object& o, const char* key, uint8_t* out, size_t want) {
  Napi::Value v = o.Get(key);
  if (!v.IsBuffer()) return false;
  auto b = v.As<Napi::Buffer<uint8_t>>();
  if (b.Length() != want) return false;
  memcpy(out, b.Data(), want);
  return true;
}

void PutNat(nlmsghdr* nlh, uint16_t type, const NatSpec& n, bool v6) {
  nlattr* nest = mnl_attr_nest_start(nlh, type);
  mnl_attr_put(nlh, v6 ? CTA_NAT_V6_MINIP : CTA_NAT_V4_MINIP, v6 ? 16 : 4, n.addr);
  mnl_attr_put(nlh, v6 ? CTA_NAT_V6_MAXIP : CTA_NAT_V4_MAXIP, v6 ? 16 : 4, n.addr);
  if (n.port >= 0) {
    nlattr* proto = mnl_attr_nest_start(nlh, CTA_NAT_PROTO);
    const uint16_t port = htons(static_cast<uint16_t>(n.port));
    mnl_attr_put_u16(nlh, CTA_PROTONAT_PORT_MIN, port);
    mnl_attr_put_u16(nlh, CTA_PROTONAT_PORT_MAX, port);
    mnl_attr_nest_end(nlh, proto);
  }
  mnl_attr_nest_end(nlh, nest);
}

}  // namespace

bool ParseTuple(const Napi::Value& v, TupleSpec* out) {
  Napi::Env env = v.Env();
  *out = TupleSpec();
  if (!v.IsObject()) {
    Napi::TypeError::New(env, "native tuple: object expected").ThrowAsJavaScriptException();
    return false;
  }
  Napi::Object o = v.As<Napi::Object>();
  int32_t n = 0;
  if (!Int(o, "family", &n) || (n != AF_INET && n != AF_INET6)) {
    Napi::TypeError::New(env, "native tuple: family").ThrowAsJavaScriptException();
    return false;
  }
  out->family = static_cast<uint8_t>(n);
  const size_t alen = n == AF_INET6 ? 16 : 4;
  if (!Addr(o, "src", out->src, alen) || !Addr(o, "dst", out->dst, alen)) {
    Napi::TypeError::New(env, "native tuple: addresses").ThrowAsJavaScriptException();
    return false;
  }
  if (!Int(o, "protocol", &n)) {
    Napi::TypeError::New(env, "native tuple: protocol").ThrowAsJavaScriptException();
    return false;
  }
  out->protocol = static_cast<uint8_t>(n);
  Int(o, "srcPort", &out->sport);
  Int(o, "dstPort", &out->dport);
  Int(o, "icmpType", &out->icmp_type);
  Int(o, "icmpCode", &out->icmp_code);
  Int(o, "icmpId", &out->icmp_id);
  Int(o, "zone", &out->zone);
  Int(o, "tupleZone", &out->tuple_zone);
  return true;
}

void PutTuple(nlmsghdr* nlh, uint16_t type, const TupleSpec& t) {
  const bool v6 = t.family == AF_INET6;
  nlattr* tuple = mnl_attr_nest_start(nlh, type);
  nlattr* ip = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
  mnl_attr_put(nlh, v6 ? CTA_IP_V6_SRC : CTA_IP_V4_SRC, v6 ? 16 : 4, t.src);
  mnl_attr_put(nlh, v6 ? CTA_IP_V6_DST : CTA_IP_V4_DST, v6 ? 16 : 4, t.dst);
  mnl_attr_nest_end(nlh, ip);
  nlattr* proto = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
  mnl_attr_put_u8(nlh, CTA_PROTO_NUM, t.protocol);
  if (t.sport >= 0) mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, htons(static_cast<uint16_t>(t.sport)));
  if (t.dport >= 0) mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons(static_cast<uint16_t>(t.dport)));
  const bool icmp6 = t.protocol == IPPROTO_ICMPV6;
  if (t.icmp_id >= 0) {
    mnl_attr_put_u16(nlh, icmp6 ? CTA_PROTO_ICMPV6_ID : CTA_PROTO_ICMP_ID, htons(static_cast<uint16_t>(t.icmp_id)));
  }
  if (t.icmp_type >= 0) {
    mnl_attr_put_u8(nlh, icmp6 ? CTA_PROTO_ICMPV6_TYPE : CTA_PROTO_ICMP_TYPE, static_cast<uint8_t>(t.icmp_type));
  }
  if (t.icmp_code >= 0) {
    mnl_attr_put_u8(nlh, icmp6 ? CTA_PROTO_ICMPV6_CODE : CTA_PROTO_ICMP_CODE, static_cast<uint8_t>(t.icmp_code));
  }
  mnl_attr_nest_end(nlh, proto);
  if (t.tuple_zone >= 0) {
    mnl_attr_put_u16(nlh, CTA_TUPLE_ZONE, htons(static_cast<uint16_t>(t.tuple_zone)));
  }
  mnl_attr_nest_end(nlh, tuple);
}

namespace {

void UnpackTuple(const uint32_t* t, uint8_t family, uint8_t protocol, TupleSpec* out) {
  out->family = family;
  out->protocol = protocol;
  memcpy(out->src, &t[SPEC_TUPLE_SRC], 16);
  memcpy(out->dst, &t[SPEC_TUPLE_DST], 16);
  if (t[SPEC_TUPLE_FLAGS] & SPEC_TUPLE_HAS_PORTS) {
    out->sport = static_cast<int32_t>(t[SPEC_TUPLE_PORTS] & 0xffff);
    out->dport = static_cast<int32_t>(t[SPEC_TUPLE_PORTS] >> 16);
  }
  if (t[SPEC_TUPLE_FLAGS] & SPEC_TUPLE_HAS_ICMP) {
    out->icmp_type = static_cast<int32_t>(t[SPEC_TUPLE_ICMP] & 0xff);
    out->icmp_code = static_cast<int32_t>((t[SPEC_TUPLE_ICMP] >> 8) & 0xff);
    out->icmp_id = static_cast<int32_t>(t[SPEC_TUPLE_ICMP] >> 16);
  }
  if (t[SPEC_TUPLE_FLAGS] & SPEC_TUPLE_HAS_ZONE) out->tuple_zone = static_cast<int32_t>(t[SPEC_TUPLE_ZONE]);
}

void UnpackNat(const uint32_t* w, bool has_port, NatSpec* out) {
  out->set = true;
  memcpy(out->addr, w, 16);
  if (has_port) out->port = static_cast<int32_t>(w[4] & 0xffff);
}

}  // namespace

void UnpackFlowSpec(const uint32_t* w, const std::string& helper, FlowSpec* out) {
  *out = FlowSpec();
  const uint32_t f = w[SPEC_FLAGS];
  const uint8_t family = static_cast<uint8_t>(w[SPEC_KIND] & 0xff);
  const uint8_t protocol = static_cast<uint8_t>((w[SPEC_KIND] >> 8) & 0xff);
  UnpackTuple(&w[SPEC_ORIG], family, protocol, &out->orig);
  if (f & SPEC_HAS_REPLY) {
    UnpackTuple(&w[SPEC_REPLY], family, protocol, &out->reply);
    out->has_reply = true;
  }
  if (f & SPEC_HAS_TIMEOUT) out->timeout = w[SPEC_TIMEOUT];
  if (f & SPEC_HAS_STATUS) out->status = w[SPEC_STATUS];
  if (f & SPEC_HAS_MARK) out->mark = w[SPEC_MARK];
  if (f & SPEC_HAS_MARK_MASK) out->mark_mask = w[SPEC_MARK_MASK];
  if (f & SPEC_HAS_ZONE) out->zone = static_cast<int32_t>(w[SPEC_ZONE]);
  if (f & SPEC_HAS_TCP_STATE) out->tcp_state = static_cast<int32_t>(w[SPEC_STATE]);
  if (f & SPEC_HAS_SCTP_STATE) out->sctp_state = static_cast<int32_t>(w[SPEC_STATE]);
  if (f & SPEC_HAS_VTAG) {
    out->vtag_orig = w[SPEC_VTAG_ORIG];
    out->vtag_reply = w[SPEC_VTAG_REPLY];
  }
  if (f & SPEC_HAS_LABELS) {
    memcpy(out->labels, &w[SPEC_LABELS], sizeof(out->labels));
    out->labels_set = true;
  }
  if (f & SPEC_HAS_LABELS_MASK) {
    memcpy(out->labels_mask, &w[SPEC_LABELS_MASK], sizeof(out->labels_mask));
    out->labels_mask_set = true;
  }
  if (f & SPEC_HAS_SNAT) UnpackNat(&w[SPEC_SNAT], (f & SPEC_HAS_SNAT_PORT) != 0, &out->snat);
  if (f & SPEC_HAS_DNAT) UnpackNat(&w[SPEC_DNAT], (f & SPEC_HAS_DNAT_PORT) != 0, &out->dnat);
  if (f & SPEC_HAS_HELPER) out->helper = helper;
}

void PutFlowSpec(nlmsghdr* nlh, const FlowSpec& f) {
  PutTuple(nlh, CTA_TUPLE_ORIG, f.orig);
  if (f.has_reply) PutTuple(nlh, CTA_TUPLE_REPLY, f.reply);
  if (f.zone >= 0) mnl_attr_put_u16(nlh, CTA_ZONE, htons(static_cast<uint16_t>(f.zone)));
  if (f.timeout >= 0) mnl_attr_put_u32(nlh, CTA_TIMEOUT, htonl(static_cast<uint32_t>(f.timeout)));
  if (f.status >= 0) mnl_attr_put_u32(nlh, CTA_STATUS, htonl(static_cast<uint32_t>(f.status)));
  if (f.mark >= 0) {
    mnl_attr_put_u32(nlh, CTA_MARK, htonl(static_cast<uint32_t>(f.mark)));
    if (f.mark_mask >= 0) {
      mnl_attr_put_u32(nlh, CTA_MARK_MASK, htonl(static_cast<uint32_t>(f.mark_mask)));
    }
  }
  if (f.tcp_state >= 0) {
    nlattr* info = mnl_attr_nest_start(nlh, CTA_PROTOINFO);
    nlattr* tcp = mnl_attr_nest_start(nlh, CTA_PROTOINFO_TCP);
    mnl_attr_put_u8(nlh, CTA_PROTOINFO_TCP_STATE, static_cast<uint8_t>(f.tcp_state));
    mnl_attr_nest_end(nlh, tcp);
    mnl_attr_nest_end(nlh, info);
  } else if (f.sctp_state >= 0) {
    nlattr* info = mnl_attr_nest_start(nlh, CTA_PROTOINFO);
    nlattr* sctp = mnl_attr_nest_start(nlh, CTA_PROTOINFO_SCTP);
    mnl_attr_put_u8(nlh, CTA_PROTOINFO_SCTP_STATE, static_cast<uint8_t>(f.sctp_state));
    if (f.vtag_orig >= 0) {
      mnl_attr_put_u32(nlh, CTA_PROTOINFO_SCTP_VTAG_ORIGINAL, htonl(static_cast<uint32_t>(f.vtag_orig)));
    }
    if (f.vtag_reply >= 0) {
      mnl_attr_put_u32(nlh, CTA_PROTOINFO_SCTP_VTAG_REPLY, htonl(static_cast<uint32_t>(f.vtag_reply)));
    }
    mnl_attr_nest_end(nlh, sctp);
    mnl_attr_nest_end(nlh, info);
  }
  if (f.labels_set) {
    // The kernel's label bitmap is host-order words, as it sends it.
    mnl_attr_put(nlh, CTA_LABELS, sizeof(f.labels), f.labels);
    if (f.labels_mask_set) mnl_attr_put(nlh, CTA_LABELS_MASK, sizeof(f.labels_mask), f.labels_mask);
  }
  if (!f.helper.empty()) {
    nlattr* help = mnl_attr_nest_start(nlh, CTA_HELP);
    mnl_attr_put_strz(nlh, CTA_HELP_NAME, f.helper.c_str());
    mnl_attr_nest_end(nlh, help);
  }
  const bool v6 = f.orig.family == AF_INET6;
  if (f.snat.set) PutNat(nlh, CTA_NAT_SRC, f.snat, v6);
  if (f.dnat.set) PutNat(nlh, CTA_NAT_DST, f.dnat, v6);
}

}  // namespace ct
}  // namespace nfct
