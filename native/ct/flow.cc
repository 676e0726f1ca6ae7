#include "ct/flow.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

#include <cstring>

#include "attr.h"

namespace nfct {
namespace ct {

namespace {

// Newer than some system headers.
constexpr uint16_t kCtaTimestampEvent = 27;  // CTA_TIMESTAMP_EVENT (6.x)

using attr::Be16;
using attr::Be32;
using attr::Be64;
using attr::ForEach;
using attr::ForEachNested;
using attr::Len;
using attr::Payload;
using attr::PayloadLen;
using attr::Put64;
using attr::Type;
using attr::U8;

bool DecodeTupleIp(const nlattr* nest, uint8_t (*addr)[16], uint32_t* meta) {
  return ForEachNested(nest, [&](const nlattr* a) {
    switch (Type(a)) {
      case CTA_IP_V4_SRC:
      case CTA_IP_V4_DST:
        if (!Len(a, 4)) return false;
        memcpy(addr[Type(a) == CTA_IP_V4_SRC ? 0 : 1],
               Payload(a), 4);
        *meta |= TUPLE_HAS_ADDRS;
        break;
      case CTA_IP_V6_SRC:
      case CTA_IP_V6_DST:
        if (!Len(a, 16)) return false;
        memcpy(addr[Type(a) == CTA_IP_V6_SRC ? 0 : 1],
               Payload(a), 16);
        *meta |= TUPLE_HAS_ADDRS;
        break;
      default:
        break;
    }
    return true;
  });
}

bool DecodeTupleProto(const nlattr* nest, uint32_t* t) {
  return ForEachNested(nest, [&](const nlattr* a) {
    switch (Type(a)) {
      case CTA_PROTO_NUM:
        if (!Len(a, 1)) return false;
        t[TUPLE_META] = (t[TUPLE_META] & ~0xffu) | U8(a) | TUPLE_HAS_PROTO;
        break;
      case CTA_PROTO_SRC_PORT:
        if (!Len(a, 2)) return false;
        t[TUPLE_PORTS] = (t[TUPLE_PORTS] & 0xffff0000u) | Be16(a);
        t[TUPLE_META] |= TUPLE_HAS_PORTS;
        break;
      case CTA_PROTO_DST_PORT:
        if (!Len(a, 2)) return false;
        t[TUPLE_PORTS] = (t[TUPLE_PORTS] & 0xffffu) | (static_cast<uint32_t>(Be16(a)) << 16);
        t[TUPLE_META] |= TUPLE_HAS_PORTS;
        break;
      case CTA_PROTO_ICMP_TYPE:
      case CTA_PROTO_ICMPV6_TYPE:
        if (!Len(a, 1)) return false;
        t[TUPLE_ICMP] = (t[TUPLE_ICMP] & ~0xffu) | U8(a);
        t[TUPLE_META] |= TUPLE_HAS_ICMP;
        break;
      case CTA_PROTO_ICMP_CODE:
      case CTA_PROTO_ICMPV6_CODE:
        if (!Len(a, 1)) return false;
        t[TUPLE_ICMP] = (t[TUPLE_ICMP] & ~0xff00u) | (static_cast<uint32_t>(U8(a)) << 8);
        t[TUPLE_META] |= TUPLE_HAS_ICMP;
        break;
      case CTA_PROTO_ICMP_ID:
      case CTA_PROTO_ICMPV6_ID:
        if (!Len(a, 2)) return false;
        t[TUPLE_ICMP] = (t[TUPLE_ICMP] & 0xffffu) | (static_cast<uint32_t>(Be16(a)) << 16);
        t[TUPLE_META] |= TUPLE_HAS_ICMP;
        break;
      default:
        break;
    }
    return true;
  });
}

bool DecodeTuple(const nlattr* nest, Flow* f, int which) {
  static const uint32_t kBase[3] = {FLOW_ORIG, FLOW_REPLY, FLOW_MASTER};
  return DecodeTupleInto(nest, &f->w[kBase[which]], f->addr[which]);
}

}  // namespace

bool DecodeTupleInto(const nlattr* nest, uint32_t* t, uint8_t (*addr)[16]) {
  return ForEachNested(nest, [&](const nlattr* a) {
    switch (Type(a)) {
      case CTA_TUPLE_IP:
        return DecodeTupleIp(a, addr, &t[TUPLE_META]);
      case CTA_TUPLE_PROTO:
        return DecodeTupleProto(a, t);
      case CTA_TUPLE_ZONE:
        if (!Len(a, 2)) return false;
        t[TUPLE_ZONE] = Be16(a);
        t[TUPLE_META] |= TUPLE_HAS_ZONE;
        return true;
      default:
        return true;
    }
  });
}

namespace {

bool DecodeCounters(const nlattr* nest, uint32_t* w) {
  return ForEachNested(nest, [&](const nlattr* a) {
    switch (Type(a)) {
      case CTA_COUNTERS_PACKETS:
        if (!Len(a, 8)) return false;
        Put64(&w[0], Be64(a));
        break;
      case CTA_COUNTERS_BYTES:
        if (!Len(a, 8)) return false;
        Put64(&w[2], Be64(a));
        break;
      case CTA_COUNTERS32_PACKETS:
        if (!Len(a, 4)) return false;
        Put64(&w[0], Be32(a));
        break;
      case CTA_COUNTERS32_BYTES:
        if (!Len(a, 4)) return false;
        Put64(&w[2], Be32(a));
        break;
      default:
        break;
    }
    return true;
  });
}

bool DecodeTimestamp(const nlattr* nest, Flow* f) {
  return ForEachNested(nest, [&](const nlattr* a) {
    switch (Type(a)) {
      case CTA_TIMESTAMP_START:
        if (!Len(a, 8)) return false;
        Put64(&f->w[FLOW_TS_START], Be64(a));
        f->w[FLOW_PRESENT] |= FLOW_HAS_TS_START;
        break;
      case CTA_TIMESTAMP_STOP:
        if (!Len(a, 8)) return false;
        Put64(&f->w[FLOW_TS_STOP], Be64(a));
        f->w[FLOW_PRESENT] |= FLOW_HAS_TS_STOP;
        break;
      default:
        break;
    }
    return true;
  });
}

bool DecodeProtoinfo(const nlattr* nest, Flow* f) {
  uint32_t* p = &f->w[FLOW_PROTO];
  return ForEachNested(nest, [&](const nlattr* info) {
    switch (Type(info)) {
      case CTA_PROTOINFO_TCP:
        f->w[FLOW_PRESENT] |= FLOW_HAS_TCP;
        return ForEachNested(info, [&](const nlattr* a) {
          switch (Type(a)) {
            case CTA_PROTOINFO_TCP_STATE:
              if (!Len(a, 1)) return false;
              p[0] = U8(a);
              break;
            case CTA_PROTOINFO_TCP_WSCALE_ORIGINAL:
              if (!Len(a, 1)) return false;
              p[1] = (p[1] & ~0xffu) | U8(a);
              break;
            case CTA_PROTOINFO_TCP_WSCALE_REPLY:
              if (!Len(a, 1)) return false;
              p[1] = (p[1] & 0xffu) | (static_cast<uint32_t>(U8(a)) << 8);
              break;
            case CTA_PROTOINFO_TCP_FLAGS_ORIGINAL:
            case CTA_PROTOINFO_TCP_FLAGS_REPLY: {
              if (!Len(a, 2)) return false;
              const uint8_t* b = static_cast<const uint8_t*>(Payload(a));
              p[Type(a) == CTA_PROTOINFO_TCP_FLAGS_ORIGINAL ? 2 : 3] =
                  b[0] | (static_cast<uint32_t>(b[1]) << 8);
              break;
            }
            default:
              break;
          }
          return true;
        });
      case CTA_PROTOINFO_SCTP:
        f->w[FLOW_PRESENT] |= FLOW_HAS_SCTP;
        return ForEachNested(info, [&](const nlattr* a) {
          switch (Type(a)) {
            case CTA_PROTOINFO_SCTP_STATE:
              if (!Len(a, 1)) return false;
              p[0] = U8(a);
              break;
            case CTA_PROTOINFO_SCTP_VTAG_ORIGINAL:
              if (!Len(a, 4)) return false;
              p[1] = Be32(a);
              break;
            case CTA_PROTOINFO_SCTP_VTAG_REPLY:
              if (!Len(a, 4)) return false;
              p[2] = Be32(a);
              break;
            default:
              break;
          }
          return true;
        });
      case CTA_PROTOINFO_DCCP:
        f->w[FLOW_PRESENT] |= FLOW_HAS_DCCP;
        return ForEachNested(info, [&](const nlattr* a) {
          switch (Type(a)) {
            case CTA_PROTOINFO_DCCP_STATE:
              if (!Len(a, 1)) return false;
              p[0] = U8(a);
              break;
            case CTA_PROTOINFO_DCCP_ROLE:
              if (!Len(a, 1)) return false;
              p[1] = U8(a);
              break;
            case CTA_PROTOINFO_DCCP_HANDSHAKE_SEQ:
              if (!Len(a, 8)) return false;
              Put64(&p[2], Be64(a));
              break;
            default:
              break;
          }
          return true;
        });
      default:
        return true;
    }
  });
}

bool DecodeU32Triple(const nlattr* nest, uint32_t* w) {
  // CTA_SEQADJ_* and CTA_SYNPROXY_* both number their three u32 attributes 1..3.
  return ForEachNested(nest, [&](const nlattr* a) {
    uint16_t type = Type(a);
    if (type >= 1 && type <= 3) {
      if (!Len(a, 4)) return false;
      w[type - 1] = Be32(a);
    }
    return true;
  });
}

bool DecodeString(const nlattr* a, std::string* out) {
  const char* s = static_cast<const char*>(Payload(a));
  size_t n = strnlen(s, PayloadLen(a));
  out->assign(s, n);
  return true;
}

bool DecodeTop(const nlattr* a, Flow* f) {
  uint32_t& present = f->w[FLOW_PRESENT];
  switch (Type(a)) {
    case CTA_TUPLE_ORIG:
      present |= FLOW_HAS_ORIG;
      return DecodeTuple(a, f, 0);
    case CTA_TUPLE_REPLY:
      present |= FLOW_HAS_REPLY;
      return DecodeTuple(a, f, 1);
    case CTA_TUPLE_MASTER:
      present |= FLOW_HAS_MASTER;
      return DecodeTuple(a, f, 2);
    case CTA_STATUS:
      if (!Len(a, 4)) return false;
      f->w[FLOW_STATUS] = Be32(a);
      present |= FLOW_HAS_STATUS;
      return true;
    case CTA_PROTOINFO:
      return DecodeProtoinfo(a, f);
    case CTA_HELP:
      return ForEachNested(a, [&](const nlattr* h) {
        if (Type(h) == CTA_HELP_NAME) {
          present |= FLOW_HAS_HELPER;
          return DecodeString(h, &f->helper);
        }
        return true;
      });
    case CTA_TIMEOUT:
      if (!Len(a, 4)) return false;
      f->w[FLOW_TIMEOUT] = Be32(a);
      present |= FLOW_HAS_TIMEOUT;
      return true;
    case CTA_MARK:
      if (!Len(a, 4)) return false;
      f->w[FLOW_MARK] = Be32(a);
      present |= FLOW_HAS_MARK;
      return true;
    case CTA_COUNTERS_ORIG:
      present |= FLOW_HAS_COUNTERS_ORIG;
      return DecodeCounters(a, &f->w[FLOW_COUNTERS]);
    case CTA_COUNTERS_REPLY:
      present |= FLOW_HAS_COUNTERS_REPLY;
      return DecodeCounters(a, &f->w[FLOW_COUNTERS + 4]);
    case CTA_USE:
      if (!Len(a, 4)) return false;
      f->w[FLOW_USE] = Be32(a);
      present |= FLOW_HAS_USE;
      return true;
    case CTA_ID:
      if (!Len(a, 4)) return false;
      f->w[FLOW_ID] = Be32(a);
      present |= FLOW_HAS_ID;
      return true;
    case CTA_SEQ_ADJ_ORIG:
      present |= FLOW_HAS_SEQADJ_ORIG;
      return DecodeU32Triple(a, &f->w[FLOW_SEQADJ_ORIG]);
    case CTA_SEQ_ADJ_REPLY:
      present |= FLOW_HAS_SEQADJ_REPLY;
      return DecodeU32Triple(a, &f->w[FLOW_SEQADJ_REPLY]);
    case CTA_SECMARK:
      if (!Len(a, 4)) return false;
      f->w[FLOW_SECMARK] = Be32(a);
      present |= FLOW_HAS_SECMARK;
      return true;
    case CTA_ZONE:
      if (!Len(a, 2)) return false;
      f->w[FLOW_ZONE] = Be16(a);
      present |= FLOW_HAS_ZONE;
      return true;
    case CTA_SECCTX:
      return ForEachNested(a, [&](const nlattr* s) {
        if (Type(s) == CTA_SECCTX_NAME) {
          present |= FLOW_HAS_SECCTX;
          return DecodeString(s, &f->secctx);
        }
        return true;
      });
    case CTA_TIMESTAMP:
      return DecodeTimestamp(a, f);
    case CTA_LABELS: {
      size_t n = PayloadLen(a);
      if (n > 16) n = 16;
      // The kernel sends the label bitmap as host-order unsigned longs; bit i is label i.
      memcpy(&f->w[FLOW_LABELS], Payload(a), n);
      present |= FLOW_HAS_LABELS;
      return true;
    }
    case CTA_SYNPROXY:
      present |= FLOW_HAS_SYNPROXY;
      return DecodeU32Triple(a, &f->w[FLOW_SYNPROXY]);
    case kCtaTimestampEvent:
      if (!Len(a, 8)) return false;
      Put64(&f->w[FLOW_TS_EVENT], Be64(a));
      present |= FLOW_HAS_TS_EVENT;
      return true;
    default:
      return true;  // unknown to this version: skipped, never fatal
  }
}

void Reset(Flow* f, uint8_t family) {
  memset(f->w, 0, sizeof(f->w));
  memset(f->addr, 0, sizeof(f->addr));
  f->helper.clear();
  f->secctx.clear();
  f->w[FLOW_KIND] = family;
}

void SetL4FromTuple(Flow* f) {
  uint32_t proto = f->w[FLOW_ORIG + TUPLE_META] & 0xffu;
  f->w[FLOW_KIND] = (f->w[FLOW_KIND] & ~0xff00u) | (proto << 8);
}

// Dotted-quad text without inet_ntop's generality: this runs four times per flow.
void AppendIpv4(const uint8_t* a, std::string* out) {
  char text[16];
  char* p = text;
  for (int i = 0; i < 4; i++) {
    unsigned v = a[i];
    if (v >= 100) {
      *p++ = static_cast<char>('0' + v / 100);
      v %= 100;
      *p++ = static_cast<char>('0' + v / 10);
      v %= 10;
    } else if (v >= 10) {
      *p++ = static_cast<char>('0' + v / 10);
      v %= 10;
    }
    *p++ = static_cast<char>('0' + v);
    *p++ = i < 3 ? '.' : '\0';
  }
  out->append(text, static_cast<size_t>(p - text));
}

}  // namespace

bool DecodeFlowAttrs(const void* data, size_t len, uint8_t family, Flow* out) {
  Reset(out, family);
  bool ok = ForEach(data, len, [&](const nlattr* a) { return DecodeTop(a, out); });
  SetL4FromTuple(out);
  return ok;
}

bool DecodeFlowMessage(const nlmsghdr* nlh, Flow* out) {
  if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(nfgenmsg))) return false;
  const auto* nfg = static_cast<const nfgenmsg*>(mnl_nlmsg_get_payload(nlh));
  const size_t hdr = MNL_ALIGN(sizeof(nfgenmsg));
  const char* attrs = static_cast<const char*>(mnl_nlmsg_get_payload(nlh)) + hdr;
  size_t len = mnl_nlmsg_get_payload_len(nlh) - hdr;
  if (!DecodeFlowAttrs(attrs, len, nfg->nfgen_family, out)) return false;
  uint32_t type = nlh->nlmsg_type & 0xffu;
  uint32_t flags = (nlh->nlmsg_flags & NLM_F_DUMP_INTR) ? static_cast<uint32_t>(FLOW_KIND_DUMP_INTR) : 0u;
  if (nlh->nlmsg_flags & (NLM_F_CREATE | NLM_F_EXCL)) flags |= FLOW_KIND_CREATE;
  out->w[FLOW_KIND] = (out->w[FLOW_KIND] & 0xffffu) | (type << 16) | (flags << 24);
  out->w[FLOW_PORTID] = nlh->nlmsg_pid;
  return true;
}

void AppendTupleStrings(bool v6, const uint32_t* t, const uint8_t (*addr)[16], std::string* out) {
  const bool addrs = (t[TUPLE_META] & TUPLE_HAS_ADDRS) != 0;
  char text[INET6_ADDRSTRLEN];
  for (int d = 0; d < 2; d++) {
    if (!addrs) {
      out->push_back('\0');
    } else if (!v6) {
      AppendIpv4(addr[d], out);  // ends with its NUL
    } else {
      if (inet_ntop(AF_INET6, addr[d], text, sizeof(text)) != nullptr) out->append(text);
      out->push_back('\0');
    }
  }
}

void AppendFlowStrings(const Flow& flow, std::string* out) {
  static const uint32_t kTupleBits[3] = {FLOW_HAS_ORIG, FLOW_HAS_REPLY, FLOW_HAS_MASTER};
  static const uint32_t kBase[3] = {FLOW_ORIG, FLOW_REPLY, FLOW_MASTER};
  const bool v6 = flow.family() == static_cast<uint8_t>(AF_INET6);
  for (int t = 0; t < 3; t++) {
    if (flow.has(kTupleBits[t])) AppendTupleStrings(v6, &flow.w[kBase[t]], flow.addr[t], out);
  }
  if (flow.has(FLOW_HAS_HELPER)) {
    out->append(flow.helper);
    out->push_back('\0');
  }
  if (flow.has(FLOW_HAS_SECCTX)) {
    out->append(flow.secctx);
    out->push_back('\0');
  }
}

}  // namespace ct
}  // namespace nfct
