// `conntrack -L` lines of decoded flows (see text.h).
#include "ct/text.h"

#include <linux/netfilter/nf_conntrack_common.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "addon.h"
#include "ct/flow.h"
#include "ct/service_table.h"
#include "errors.h"

namespace nfct {
namespace ct {

namespace {

// IPS_HW_OFFLOAD, which kernel headers before Linux 5.13 do not name.
constexpr uint32_t kHwOffload = 1u << 15;

// The state names of the kernel's enums, in order (lib/core/constants.ts has the same lists).
const char* const kTcpStates[] = {"NONE",       "SYN_SENT", "SYN_RECV",  "ESTABLISHED", "FIN_WAIT",
                                  "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE",       "SYN_SENT2"};
const char* const kSctpStates[] = {"NONE",           "CLOSED",         "COOKIE_WAIT",   "COOKIE_ECHOED",
                                   "ESTABLISHED",    "SHUTDOWN_SENT",  "SHUTDOWN_RECD", "SHUTDOWN_ACK_SENT",
                                   "HEARTBEAT_SENT", "HEARTBEAT_ACKED"};
const char* const kDccpStates[] = {"NONE",     "REQUEST", "RESPOND",  "PARTOPEN", "OPEN",
                                   "CLOSEREQ", "CLOSING", "TIMEWAIT", "IGNORE",   "INVALID"};

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

// One of a record's strings: where it starts in the batch's strings and its length.
struct Text {
  const char* data = "";
  size_t size = 0;
};

// The strings of one record, in the order flow.h gives them; Next() moves past them.
class RecordStrings {
 public:
  RecordStrings(const char* at, const char* end) : at_(at), end_(end) {}
  Text Next() {
    Text t;
    t.data = at_;
    const void* nul = memchr(at_, 0, static_cast<size_t>(end_ - at_));
    t.size = nul ? static_cast<size_t>(static_cast<const char*>(nul) - at_) : static_cast<size_t>(end_ - at_);
    at_ += t.size + (nul ? 1 : 0);
    return t;
  }

 private:
  const char* at_;
  const char* end_;
};

// Appends to a byte buffer; every item is followed by one blank, as conntrack writes them.
class Line {
 public:
  explicit Line(std::vector<uint8_t>* out) : out_(out) {}

  void Bytes(const char* s, size_t n) { out_->insert(out_->end(), s, s + n); }
  void Cstr(const char* s) { Bytes(s, strlen(s)); }
  void Str(const Text& t) { Bytes(t.data, t.size); }
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
void Tuple(Line* l, const uint32_t* t, const Text& src, const Text& dst) {
  l->Cstr("src=");
  l->Str(src);
  l->Cstr(" dst=");
  l->Str(dst);
  l->Char(' ');
  const uint32_t proto = t[TUPLE_META] & 0xff;
  const uint32_t ports = (t[TUPLE_META] & TUPLE_HAS_PORTS) ? t[TUPLE_PORTS] : 0;
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
    const uint32_t icmp = (t[TUPLE_META] & TUPLE_HAS_ICMP) ? t[TUPLE_ICMP] : 0;
    l->Field("type=", icmp & 0xff);
    l->Field("code=", (icmp >> 8) & 0xff);
    l->Field("id=", icmp >> 16);
  }
}

struct TextOptions {
  bool extended = false;                   // -o extended: the layer-3 name and number first
  bool id = false;                         // -o id: id= at the end
  const ServiceTable* services = nullptr;  // --services: the Service of the original destination
};

// ` service=NAME endpoint=IP:PORT` (and ` stale` when that endpoint is no longer the Service's).
void AppendService(const uint32_t* w, const Text addr[2][2], uint32_t l4proto, bool v6, const ServiceTable& st,
                   Line* l) {
  const uint32_t* o = &w[FLOW_ORIG];
  const uint32_t* r = &w[FLOW_REPLY];
  const bool ports = HasPorts(l4proto);
  const uint32_t oports = (o[TUPLE_META] & TUPLE_HAS_PORTS) ? o[TUPLE_PORTS] : 0;
  const uint32_t rports = (r[TUPLE_META] & TUPLE_HAS_PORTS) ? r[TUPLE_PORTS] : 0;
  const unsigned dport = ports ? oports >> 16 : 0;
  const ServicePortEntry* e = st.Find(l4proto, addr[0][1].data, addr[0][1].size, dport);
  if (e == nullptr) return;
  l->Cstr("service=");
  l->Bytes(e->name.data(), e->name.size());
  l->Char(' ');
  const Text& rsrc = addr[1][0];
  const unsigned rsport = ports ? rports & 0xffff : 0;
  const bool dnat =
      rsrc.size != addr[0][1].size || memcmp(rsrc.data, addr[0][1].data, rsrc.size) != 0 || rsport != dport;
  if (!dnat) return;
  l->Cstr("endpoint=");
  if (v6) l->Char('[');
  l->Str(rsrc);
  if (v6) l->Char(']');
  if (ports) {
    l->Char(':');
    l->Dec(rsport);
  }
  l->Char(' ');
  if (!ServiceTable::IsEndpoint(*e, rsrc.data, rsrc.size, rsport)) l->Word("stale");
}

// Appends the line of the record at w (its strings next in `strings`) and its newline. `now_s`:
// seconds since the epoch, for delta-time= of an entry that has not ended.
void AppendFlowLine(const uint32_t* w, RecordStrings* strings, const TextOptions& o, int64_t now_s, Line* line) {
  Line& l = *line;
  const uint32_t present = w[FLOW_PRESENT];
  auto has = [present](uint32_t bit) { return (present & bit) != 0; };
  const uint32_t l4proto = (w[FLOW_KIND] >> 8) & 0xff;
  const bool v6 = (w[FLOW_KIND] & 0xff) == AF_INET6;
  // The tuples' addresses, then the master's (not printed), the helper, the security context.
  Text addr[2][2];
  static const uint32_t kTupleBits[3] = {FLOW_HAS_ORIG, FLOW_HAS_REPLY, FLOW_HAS_MASTER};
  for (int t = 0; t < 3; t++) {
    if (!has(kTupleBits[t])) continue;
    Text src = strings->Next();
    Text dst = strings->Next();
    if (t < 2) {
      addr[t][0] = src;
      addr[t][1] = dst;
    }
  }
  const Text helper = has(FLOW_HAS_HELPER) ? strings->Next() : Text();
  const Text secctx = has(FLOW_HAS_SECCTX) ? strings->Next() : Text();
  if (o.extended) l.Cstr(v6 ? "ipv6     10 " : "ipv4     2 ");
  const char* name = ProtoName(l4proto);
  l.Cstr(name);
  for (size_t n = strlen(name); n < 8; n++) l.Char(' ');
  l.Char(' ');
  l.Dec(l4proto);
  l.Char(' ');
  if (has(FLOW_HAS_TIMEOUT)) {
    l.Dec(w[FLOW_TIMEOUT]);
    l.Char(' ');
  }
  if (has(FLOW_HAS_TCP)) l.Word(StateName(kTcpStates, w[FLOW_PROTO]));
  if (has(FLOW_HAS_SCTP)) l.Word(StateName(kSctpStates, w[FLOW_PROTO]));
  if (has(FLOW_HAS_DCCP)) l.Word(StateName(kDccpStates, w[FLOW_PROTO]));
  const bool counters = has(FLOW_HAS_COUNTERS_ORIG | FLOW_HAS_COUNTERS_REPLY);
  const uint32_t status = has(FLOW_HAS_STATUS) ? w[FLOW_STATUS] : 0;
  static const uint32_t kBase[2] = {FLOW_ORIG, FLOW_REPLY};
  static const char* const kZone[2] = {"zone-orig=", "zone-reply="};
  for (int d = 0; d < 2; d++) {
    const uint32_t* t = &w[kBase[d]];
    if (d == 1 && !(status & IPS_SEEN_REPLY)) l.Word("[UNREPLIED]");
    Tuple(&l, t, addr[d][0], addr[d][1]);
    if (t[TUPLE_META] & TUPLE_HAS_ZONE) l.Field(kZone[d], t[TUPLE_ZONE]);
    if (counters) {
      l.Field("packets=", Get64(&w[FLOW_COUNTERS + 4 * d]));
      l.Field("bytes=", Get64(&w[FLOW_COUNTERS + 4 * d + 2]));
    }
  }
  if (status & kHwOffload) l.Word("[HW_OFFLOAD]");
  else if (status & IPS_OFFLOAD) l.Word("[OFFLOAD]");
  else if (status & IPS_ASSURED) l.Word("[ASSURED]");
  if (has(FLOW_HAS_MARK)) l.Field("mark=", w[FLOW_MARK]);
  if (has(FLOW_HAS_SECMARK)) l.Field("secmark=", w[FLOW_SECMARK]);
  if (has(FLOW_HAS_SECCTX)) {
    l.Cstr("secctx=");
    l.Str(secctx);
    l.Char(' ');
  }
  if (has(FLOW_HAS_ZONE)) l.Field("zone=", w[FLOW_ZONE]);
  if (has(FLOW_HAS_TS_START)) {
    // Whole seconds each, then the difference (a negative one wraps, as %llu prints it).
    const uint64_t start = Get64(&w[FLOW_TS_START]) / 1000000000u;
    const uint64_t stop = has(FLOW_HAS_TS_STOP) ? Get64(&w[FLOW_TS_STOP]) : 0;
    const uint64_t end = stop != 0 ? stop / 1000000000u : static_cast<uint64_t>(now_s);
    l.Field("delta-time=", end - start);
  }
  if (has(FLOW_HAS_HELPER)) {
    l.Cstr("helper=");
    l.Str(helper);
    l.Char(' ');
  }
  if (has(FLOW_HAS_USE)) l.Field("use=", w[FLOW_USE]);
  if (o.id && has(FLOW_HAS_ID)) l.Field("id=", w[FLOW_ID]);
  if (o.services != nullptr && has(FLOW_HAS_ORIG) && has(FLOW_HAS_REPLY))
    AppendService(w, addr, l4proto, v6, *o.services, &l);
  l.End();
}

Napi::Value FormatFlows(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsArrayBuffer() || !info[1].IsString() || !info[2].IsNumber() ||
      !info[3].IsObject())
    return ThrowTypeError(env, "formatFlows(records: ArrayBuffer, strings: string, count: number, options: object)");
  Napi::ArrayBuffer records = info[0].As<Napi::ArrayBuffer>();
  const double wanted = info[2].As<Napi::Number>().DoubleValue();
  if (!(wanted >= 0 && wanted <= 4294967295.0 && wanted == static_cast<double>(static_cast<uint64_t>(wanted))))
    return ThrowTypeError(env, "formatFlows: count must be a whole number from 0 to 2^32-1");
  const size_t count = static_cast<size_t>(wanted);
  if (records.ByteLength() < count * FLOW_WORDS * sizeof(uint32_t))
    return ThrowTypeError(env, "formatFlows: fewer records than count");
  // Plain N-API calls, each checked: a getter or Proxy trap that throws leaves its exception
  // pending, and node-addon-api's ToBoolean()/Value() of the empty result would abort.
  napi_value opts = info[3];
  TextOptions o;
  bool* const flags[2] = {&o.extended, &o.id};
  const char* const names[2] = {"extended", "id"};
  for (int i = 0; i < 2; i++) {
    napi_value v;
    napi_value b;
    if (napi_get_named_property(env, opts, names[i], &v) != napi_ok || napi_coerce_to_bool(env, v, &b) != napi_ok ||
        napi_get_value_bool(env, b, flags[i]) != napi_ok) {
      if (!env.IsExceptionPending()) ThrowTypeError(env, "formatFlows: options could not be read");
      return env.Undefined();
    }
  }
  {
    napi_value v;
    bool present = false;
    if (napi_has_named_property(env, opts, "services", &present) == napi_ok && present &&
        napi_get_named_property(env, opts, "services", &v) == napi_ok) {
      o.services = ServiceTableOf(env, v);
    }
    if (env.IsExceptionPending()) return env.Undefined();
  }
  // The strings are latin1 (one byte a character), as the reader made them.
  size_t len = 0;
  napi_get_value_string_latin1(env, info[1], nullptr, 0, &len);
  AddonData* data = GetData(env);
  std::string& strings = data->text_strings;
  strings.resize(len + 1);
  napi_get_value_string_latin1(env, info[1], &strings[0], len + 1, &len);
  std::vector<uint8_t>& out = data->text_out;
  out.clear();
  out.reserve(count * 160);
  timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  RecordStrings cursor(strings.data(), strings.data() + len);
  Line line(&out);
  const auto* w = static_cast<const uint32_t*>(records.Data());
  for (size_t i = 0; i < count; i++) AppendFlowLine(w + i * FLOW_WORDS, &cursor, o, now.tv_sec, &line);
  Napi::Value result = Napi::Buffer<uint8_t>::Copy(env, out.data(), out.size());
  // Kept for the next batch, but not after an unusually large one.
  constexpr size_t kKeep = 4u << 20;
  if (out.capacity() > kKeep) std::vector<uint8_t>().swap(out);
  if (strings.capacity() > kKeep) std::string().swap(strings);
  return result;
}

}  // namespace

void InitText(Napi::Env env, Napi::Object exports) {
  exports.Set("formatFlows", Napi::Function::New(env, FormatFlows, "formatFlows"));
  InitServiceTable(env, exports);
}

}  // namespace ct
}  // namespace nfct
