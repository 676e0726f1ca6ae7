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

// The attribute reader (attr.h): Type, Len, Get, Get64, GetAt, Mark, ForEachNested, ...
using namespace attr;  // NOLINT(google-build-using-namespace)

bool DecodeTupleIp(const nlattr* nest, uint8_t (*addr)[16], uint32_t* meta) {
  return ForEachNested(nest, [&](const nlattr* a) {
    const uint16_t type = Type(a);
    const bool v4 = type == CTA_IP_V4_SRC || type == CTA_IP_V4_DST;
    if (!v4 && type != CTA_IP_V6_SRC && type != CTA_IP_V6_DST) return true;
    const size_t len = v4 ? 4 : 16;
    if (!Len(a, len)) return false;
    memcpy(addr[type == CTA_IP_V4_SRC || type == CTA_IP_V6_SRC ? 0 : 1], Payload(a), len);
    return Mark(meta, TUPLE_HAS_ADDRS);
  });
}

bool DecodeTupleProto(const nlattr* nest, uint32_t* t) {
  return ForEachNested(nest, [&](const nlattr* a) {
    switch (Type(a)) {
      case CTA_PROTO_NUM: return GetAt(a, 1, &t[TUPLE_META], 0) && Mark(&t[TUPLE_META], TUPLE_HAS_PROTO);
      case CTA_PROTO_SRC_PORT:
      case CTA_PROTO_DST_PORT:
        return GetAt(a, 2, &t[TUPLE_PORTS], Type(a) == CTA_PROTO_SRC_PORT ? 0 : 16) &&
               Mark(&t[TUPLE_META], TUPLE_HAS_PORTS);
      case CTA_PROTO_ICMP_TYPE:
      case CTA_PROTO_ICMPV6_TYPE: return GetAt(a, 1, &t[TUPLE_ICMP], 0) && Mark(&t[TUPLE_META], TUPLE_HAS_ICMP);
      case CTA_PROTO_ICMP_CODE:
      case CTA_PROTO_ICMPV6_CODE: return GetAt(a, 1, &t[TUPLE_ICMP], 8) && Mark(&t[TUPLE_META], TUPLE_HAS_ICMP);
      case CTA_PROTO_ICMP_ID:
      case CTA_PROTO_ICMPV6_ID: return GetAt(a, 2, &t[TUPLE_ICMP], 16) && Mark(&t[TUPLE_META], TUPLE_HAS_ICMP);
      default: return true;
    }
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
      case CTA_TUPLE_IP: return DecodeTupleIp(a, addr, &t[TUPLE_META]);
      case CTA_TUPLE_PROTO: return DecodeTupleProto(a, t);
      case CTA_TUPLE_ZONE: return GetField(a, 2, &t[TUPLE_ZONE], &t[TUPLE_META], TUPLE_HAS_ZONE);
      default: return true;
    }
  });
}

namespace {

bool DecodeCounters(const nlattr* nest, uint32_t* w) {
  return ForEachNested(nest, [&](const nlattr* a) {
    switch (Type(a)) {
      case CTA_COUNTERS_PACKETS: return Get64(a, 8, &w[0]);
      case CTA_COUNTERS_BYTES: return Get64(a, 8, &w[2]);
      case CTA_COUNTERS32_PACKETS: return Get64(a, 4, &w[0]);
      case CTA_COUNTERS32_BYTES: return Get64(a, 4, &w[2]);
      default: return true;
    }
  });
}

bool DecodeTimestamp(const nlattr* nest, Flow* f) {
  return ForEachNested(nest, [&](const nlattr* a) {
    switch (Type(a)) {
      case CTA_TIMESTAMP_START:
        return Get64(a, 8, &f->w[FLOW_TS_START]) && Mark(&f->w[FLOW_PRESENT], FLOW_HAS_TS_START);
      case CTA_TIMESTAMP_STOP: return Get64(a, 8, &f->w[FLOW_TS_STOP]) && Mark(&f->w[FLOW_PRESENT], FLOW_HAS_TS_STOP);
      default: return true;
    }
  });
}

// A nest whose attributes 1, 2 and 3 are three values: attribute k into w[k - 1], of bytes[k - 1]
// bytes (8: two words). The SCTP and DCCP protocol info (state first), CTA_SEQADJ_* and
// CTA_SYNPROXY_* are numbered so.
bool DecodeTriple(const nlattr* nest, uint32_t* w, const uint8_t (&bytes)[3]) {
  return ForEachNested(nest, [&](const nlattr* a) {
    const uint16_t k = Type(a);
    if (k < 1 || k > 3) return true;
    return bytes[k - 1] == 8 ? Get64(a, 8, &w[k - 1]) : Get(a, bytes[k - 1], &w[k - 1]);
  });
}
constexpr uint8_t kSctpBytes[3] = {1, 4, 4};  // state, vtag original, vtag reply
constexpr uint8_t kDccpBytes[3] = {1, 1, 8};  // state, role, handshake sequence
constexpr uint8_t kU32Bytes[3] = {4, 4, 4};
static_assert(CTA_PROTOINFO_SCTP_STATE == 1 && CTA_PROTOINFO_SCTP_VTAG_REPLY == 3, "SCTP info numbered 1..3");
static_assert(CTA_PROTOINFO_DCCP_STATE == 1 && CTA_PROTOINFO_DCCP_HANDSHAKE_SEQ == 3, "DCCP info numbered 1..3");
static_assert(CTA_SEQADJ_CORRECTION_POS == 1 && CTA_SYNPROXY_TSOFF == 3, "seqadj and synproxy numbered 1..3");

bool DecodeProtoinfo(const nlattr* nest, Flow* f) {
  uint32_t* p = &f->w[FLOW_PROTO];
  return ForEachNested(nest, [&](const nlattr* info) {
    switch (Type(info)) {
      case CTA_PROTOINFO_TCP:
        f->w[FLOW_PRESENT] |= FLOW_HAS_TCP;
        return ForEachNested(info, [&](const nlattr* a) {
          switch (Type(a)) {
            case CTA_PROTOINFO_TCP_STATE: return Get(a, 1, &p[0]);
            case CTA_PROTOINFO_TCP_WSCALE_ORIGINAL:
            case CTA_PROTOINFO_TCP_WSCALE_REPLY:
              return GetAt(a, 1, &p[1], Type(a) == CTA_PROTOINFO_TCP_WSCALE_ORIGINAL ? 0 : 8);
            case CTA_PROTOINFO_TCP_FLAGS_ORIGINAL:
            case CTA_PROTOINFO_TCP_FLAGS_REPLY: {
              // struct nf_ct_tcp_flags: the flags byte, then the mask byte
              if (!Len(a, 2)) return false;
              const uint8_t* b = static_cast<const uint8_t*>(Payload(a));
              p[Type(a) == CTA_PROTOINFO_TCP_FLAGS_ORIGINAL ? 2 : 3] = b[0] | (static_cast<uint32_t>(b[1]) << 8);
              return true;
            }
            default: return true;
          }
        });
      case CTA_PROTOINFO_SCTP: return Mark(&f->w[FLOW_PRESENT], FLOW_HAS_SCTP) && DecodeTriple(info, p, kSctpBytes);
      case CTA_PROTOINFO_DCCP: return Mark(&f->w[FLOW_PRESENT], FLOW_HAS_DCCP) && DecodeTriple(info, p, kDccpBytes);
      default: return true;
    }
  });
}

bool DecodeString(const nlattr* a, std::string* out) {
  const char* s = static_cast<const char*>(Payload(a));
  size_t n = strnlen(s, PayloadLen(a));
  out->assign(s, n);
  return true;
}

// A nest whose attribute `type` is a name (the helper's, the security context's): into *out,
// with `bit` in *present.
bool DecodeName(const nlattr* nest, uint16_t type, std::string* out, uint32_t* present, uint32_t bit) {
  return ForEachNested(
      nest, [&](const nlattr* a) { return Type(a) != type || (Mark(present, bit) && DecodeString(a, out)); });
}

bool DecodeTop(const nlattr* a, Flow* f) {
  uint32_t& present = f->w[FLOW_PRESENT];
  switch (Type(a)) {
    case CTA_TUPLE_ORIG: return Mark(&present, FLOW_HAS_ORIG) && DecodeTuple(a, f, 0);
    case CTA_TUPLE_REPLY: return Mark(&present, FLOW_HAS_REPLY) && DecodeTuple(a, f, 1);
    case CTA_TUPLE_MASTER: return Mark(&present, FLOW_HAS_MASTER) && DecodeTuple(a, f, 2);
    case CTA_STATUS: return GetField(a, 4, &f->w[FLOW_STATUS], &present, FLOW_HAS_STATUS);
    case CTA_PROTOINFO: return DecodeProtoinfo(a, f);
    case CTA_HELP: return DecodeName(a, CTA_HELP_NAME, &f->helper, &present, FLOW_HAS_HELPER);
    case CTA_TIMEOUT: return GetField(a, 4, &f->w[FLOW_TIMEOUT], &present, FLOW_HAS_TIMEOUT);
    case CTA_MARK: return GetField(a, 4, &f->w[FLOW_MARK], &present, FLOW_HAS_MARK);
    case CTA_COUNTERS_ORIG: return Mark(&present, FLOW_HAS_COUNTERS_ORIG) && DecodeCounters(a, &f->w[FLOW_COUNTERS]);
    case CTA_COUNTERS_REPLY:
      return Mark(&present, FLOW_HAS_COUNTERS_REPLY) && DecodeCounters(a, &f->w[FLOW_COUNTERS + 4]);
    case CTA_USE: return GetField(a, 4, &f->w[FLOW_USE], &present, FLOW_HAS_USE);
    case CTA_ID: return GetField(a, 4, &f->w[FLOW_ID], &present, FLOW_HAS_ID);
    case CTA_SEQ_ADJ_ORIG:
      return Mark(&present, FLOW_HAS_SEQADJ_ORIG) && DecodeTriple(a, &f->w[FLOW_SEQADJ_ORIG], kU32Bytes);
    case CTA_SEQ_ADJ_REPLY:
      return Mark(&present, FLOW_HAS_SEQADJ_REPLY) && DecodeTriple(a, &f->w[FLOW_SEQADJ_REPLY], kU32Bytes);
    case CTA_SECMARK: return GetField(a, 4, &f->w[FLOW_SECMARK], &present, FLOW_HAS_SECMARK);
    case CTA_ZONE: return GetField(a, 2, &f->w[FLOW_ZONE], &present, FLOW_HAS_ZONE);
    case CTA_SECCTX: return DecodeName(a, CTA_SECCTX_NAME, &f->secctx, &present, FLOW_HAS_SECCTX);
    case CTA_TIMESTAMP: return DecodeTimestamp(a, f);
    case CTA_LABELS: {
      size_t n = PayloadLen(a);
      if (n > 16) n = 16;
      // The kernel sends the label bitmap as host-order unsigned longs; bit i is label i.
      memcpy(&f->w[FLOW_LABELS], Payload(a), n);
      present |= FLOW_HAS_LABELS;
      return true;
    }
    case CTA_SYNPROXY: return Mark(&present, FLOW_HAS_SYNPROXY) && DecodeTriple(a, &f->w[FLOW_SYNPROXY], kU32Bytes);
    case kCtaTimestampEvent: return Get64(a, 8, &f->w[FLOW_TS_EVENT]) && Mark(&present, FLOW_HAS_TS_EVENT);
    default: return true;  // unknown to this version: skipped, never fatal
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
