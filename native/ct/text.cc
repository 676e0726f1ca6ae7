// `conntrack -L` lines of decoded flows (see text.h).
#include "ct/text.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>
#include <iterator>

namespace nfct {
namespace ct {

namespace {

constexpr uint32_t kSeenReply = 1u << 1;
constexpr uint32_t kAssured = 1u << 2;
constexpr uint32_t kOffload = 1u << 14;
constexpr uint32_t kHwOffload = 1u << 15;

// The state names of the kernel's enums, in order (lib/core/constants.ts has the same lists).
const char* const kTcpStates[] = {"NONE",     "SYN_SENT",   "SYN_RECV", "ESTABLISHED", "FIN_WAIT",
                                  "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE",     "SYN_SENT2"};
const char* const kSctpStates[] = {"NONE",          "CLOSED",        "COOKIE_WAIT",       "COOKIE_ECHOED",
                                   "ESTABLISHED",   "SHUTDOWN_SENT", "SHUTDOWN_RECD",     "SHUTDOWN_ACK_SENT",
                                   "HEARTBEAT_SENT", "HEARTBEAT_ACKED"};
const char* const kDccpStates[] = {"NONE", "REQUEST", "RESPOND",  "PARTOPEN", "OPEN",
                                   "CLOSEREQ", "CLOSING", "TIMEWAIT", "IGNORE", "INVALID"};

template <size_t N>
const char* StateName(const char* const (&names)[N], uint32_t state) {
  return state < N ? names[state] : "NONE";
}

// `%-8s %u ` of a layer-4 protocol: the name conntrack knows it by, then the number.
const char* ProtoName(uint32_t num) {
  switch (num) {
    case IPPROTO_ICMP: return "icmp";
    case IPPROTO_TCP: return "tcp";
    case IPPROTO_UDP: return "udp";
    case IPPROTO_DCCP: return "dccp";
    case IPPROTO_GRE: return "gre";
    case IPPROTO_ICMPV6: return "icmpv6";
    case IPPROTO_SCTP: return "sctp";
    case IPPROTO_UDPLITE: return "udplite";
    default: return "unknown";
  }
}

bool HasPorts(uint32_t proto) {
  return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_UDPLITE || proto == IPPROTO_SCTP ||
         proto == IPPROTO_DCCP;
}

// Appends to a byte buffer; every item is followed by one blank, as conntrack writes them.
class Line {
 public:
  explicit Line(std::vector<uint8_t>* out) : out_(out) {}

  void Bytes(const char* s, size_t n) { out_->insert(out_->end(), s, s + n); }
  void Cstr(const char* s) { Bytes(s, strlen(s)); }
  void Char(char c) { out_->push_back(static_cast<uint8_t>(c)); }
  void Dec(uint64_t v) {
    char buf[20];
    char* p = buf + sizeof(buf);
    do {
      *--p = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v != 0);
    Bytes(p, static_cast<size_t>(buf + sizeof(buf) - p));
  }
  void Hex(uint32_t v) {
    char buf[8];
    char* p = buf + sizeof(buf);
    do {
      *--p = "0123456789abcdef"[v & 0xf];
      v >>= 4;
    } while (v != 0);
    Bytes(p, static_cast<size_t>(buf + sizeof(buf) - p));
  }
  // `name=value `
  void Field(const char* name, uint64_t v) {
    Cstr(name);
    Dec(v);
    Char(' ');
  }
  void Word(const char* s) {
    Cstr(s);
    Char(' ');
  }
  // The line ends: its last blank becomes the newline.
  void End() {
    if (!out_->empty() && out_->back() == ' ') out_->back() = '\n';
    else Char('\n');
  }

 private:
  std::vector<uint8_t>* out_;
};

uint64_t Get64(const uint32_t* w) { return (static_cast<uint64_t>(w[1]) << 32) | w[0]; }

// `src=A dst=B ` and the layer-4 fields of one tuple (0 where the kernel sent none).
void Tuple(Line* l, bool v6, const uint32_t* t, const uint8_t (*addr)[16]) {
  char text[INET6_ADDRSTRLEN];
  const bool addrs = (t[T_META] & TP_ADDRS) != 0;
  static const char* const kTags[2] = {"src=", "dst="};
  for (int d = 0; d < 2; d++) {
    l->Cstr(kTags[d]);
    if (addrs && inet_ntop(v6 ? AF_INET6 : AF_INET, addr[d], text, sizeof(text)) != nullptr) l->Cstr(text);
    l->Char(' ');
  }
  const uint32_t proto = t[T_META] & 0xff;
  const uint32_t ports = (t[T_META] & TP_PORTS) ? t[T_PORTS] : 0;
  if (HasPorts(proto)) {
    l->Field("sport=", ports & 0xffff);
    l->Field("dport=", ports >> 16);
  } else if (proto == IPPROTO_GRE) {
    l->Cstr("srckey=0x");
    l->Hex(ports & 0xffff);
    l->Cstr(" dstkey=0x");
    l->Hex(ports >> 16);
    l->Char(' ');
  } else if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6) {
    const uint32_t icmp = (t[T_META] & TP_ICMP) ? t[T_ICMP] : 0;
    l->Field("type=", icmp & 0xff);
    l->Field("code=", (icmp >> 8) & 0xff);
    l->Field("id=", icmp >> 16);
  }
}

}  // namespace

bool ParseTextOptions(const Napi::Value& v, TextOptions* out) {
  if (!v.IsObject()) {
    Napi::TypeError::New(v.Env(), "text options: an object").ThrowAsJavaScriptException();
    return false;
  }
  Napi::Object o = v.As<Napi::Object>();
  out->extended = o.Get("extended").ToBoolean().Value();
  out->id = o.Get("id").ToBoolean().Value();
  return true;
}

void AppendFlowLine(const Flow& f, const TextOptions& o, int64_t now_s, std::vector<uint8_t>* out) {
  Line l(out);
  const bool v6 = f.family() == AF_INET6;
  const uint32_t* w = f.w;
  if (o.extended) l.Cstr(v6 ? "ipv6     10 " : "ipv4     2 ");
  const char* name = ProtoName(f.l4proto());
  l.Cstr(name);
  for (size_t n = strlen(name); n < 8; n++) l.Char(' ');
  l.Char(' ');
  l.Dec(f.l4proto());
  l.Char(' ');
  if (f.has(P_TIMEOUT)) {
    l.Dec(w[W_TIMEOUT]);
    l.Char(' ');
  }
  if (f.has(P_TCP)) l.Word(StateName(kTcpStates, w[W_PROTO]));
  if (f.has(P_SCTP)) l.Word(StateName(kSctpStates, w[W_PROTO]));
  if (f.has(P_DCCP)) l.Word(StateName(kDccpStates, w[W_PROTO]));
  const bool counters = f.has(P_COUNTERS_ORIG | P_COUNTERS_REPLY);
  const uint32_t status = f.has(P_STATUS) ? w[W_STATUS] : 0;
  static const uint32_t kBase[2] = {W_ORIG, W_REPLY};
  static const char* const kZone[2] = {"zone-orig=", "zone-reply="};
  for (int d = 0; d < 2; d++) {
    const uint32_t* t = &w[kBase[d]];
    if (d == 1 && !(status & kSeenReply)) l.Word("[UNREPLIED]");
    Tuple(&l, v6, t, f.addr[d]);
    if (t[T_META] & TP_ZONE) l.Field(kZone[d], t[T_ZONE]);
    if (counters) {
      l.Field("packets=", Get64(&w[W_COUNTERS + 4 * d]));
      l.Field("bytes=", Get64(&w[W_COUNTERS + 4 * d + 2]));
    }
  }
  if (status & kHwOffload) l.Word("[HW_OFFLOAD]");
  else if (status & kOffload) l.Word("[OFFLOAD]");
  else if (status & kAssured) l.Word("[ASSURED]");
  if (f.has(P_MARK)) l.Field("mark=", w[W_MARK]);
  if (f.has(P_SECMARK)) l.Field("secmark=", w[W_SECMARK]);
  if (f.has(P_SECCTX)) {
    l.Cstr("secctx=");
    l.Bytes(f.secctx.data(), f.secctx.size());
    l.Char(' ');
  }
  if (f.has(P_ZONE)) l.Field("zone=", w[W_ZONE]);
  if (f.has(P_TS_START)) {
    // Whole seconds each, then the difference (a negative one wraps, as %llu prints it).
    const uint64_t start = Get64(&w[W_TS_START]) / 1000000000u;
    const uint64_t stop = f.has(P_TS_STOP) ? Get64(&w[W_TS_STOP]) : 0;
    const uint64_t end = stop != 0 ? stop / 1000000000u : static_cast<uint64_t>(now_s);
    l.Field("delta-time=", end - start);
  }
  if (f.has(P_HELPER)) {
    l.Cstr("helper=");
    l.Bytes(f.helper.data(), f.helper.size());
    l.Char(' ');
  }
  if (f.has(P_USE)) l.Field("use=", w[W_USE]);
  if (o.id && f.has(P_ID)) l.Field("id=", w[W_ID]);
  l.End();
}

}  // namespace ct
}  // namespace nfct
