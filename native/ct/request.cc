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
    mnl_attr_put_u16(nlh, icmp6 ? CTA_PROTO_ICMPV6_ID : CTA_PROTO_ICMP_ID,
                     htons(static_cast<uint16_t>(t.icmp_id)));
  }
  if (t.icmp_type >= 0) {
    mnl_attr_put_u8(nlh, icmp6 ? CTA_PROTO_ICMPV6_TYPE : CTA_PROTO_ICMP_TYPE,
                    static_cast<uint8_t>(t.icmp_type));
  }
  if (t.icmp_code >= 0) {
    mnl_attr_put_u8(nlh, icmp6 ? CTA_PROTO_ICMPV6_CODE : CTA_PROTO_ICMP_CODE,
                    static_cast<uint8_t>(t.icmp_code));
  }
  mnl_attr_nest_end(nlh, proto);
  if (t.tuple_zone >= 0) {
    mnl_attr_put_u16(nlh, CTA_TUPLE_ZONE, htons(static_cast<uint16_t>(t.tuple_zone)));
  }
  mnl_attr_nest_end(nlh, tuple);
}

}  // namespace ct
}  // namespace nfct
