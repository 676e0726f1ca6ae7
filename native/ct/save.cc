// The save-file reader (`conntrack -L -o save` lines, what `conntrack -R` reads): the lines of
// a file, each plain -I/-A line packed straight into a FlowSpec (layout/layouts.h), what
// restore() sends and parseSave()/parseSaveLine() read their entries from. lib/conntrack/save.ts documents the lines it
// takes; test/conntrack/save.unit.test.ts holds what it packs equal to normalizeFlowInput() + packFlowSpecs() of that
// entry.
#include <arpa/inet.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <napi.h>
#include <netinet/in.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "ct/conntrack.h"
#include "ct/request.h"
#include "errors.h"

namespace nfct {
namespace ct {
namespace {

// The options a plain line may carry, as bits of `seen`.
enum Opt { P, T, S, D, R, Q, SPORT, DPORT, RSPORT, RDPORT, STATE, U, M, W, ITYPE, ICODE, IID, I6TYPE, I6CODE, I6ID };
constexpr uint32_t Bit(Opt o) { return 1u << o; }
constexpr uint32_t kRequired = Bit(P) | Bit(T) | Bit(S) | Bit(D);
constexpr uint32_t kPorts = Bit(SPORT) | Bit(DPORT);
constexpr uint32_t kReply = Bit(R) | Bit(Q);
constexpr uint32_t kReplyPorts = Bit(RSPORT) | Bit(RDPORT);
constexpr uint32_t kIcmp = Bit(ITYPE) | Bit(ICODE) | Bit(IID);
constexpr uint32_t kIcmpv6 = Bit(I6TYPE) | Bit(I6CODE) | Bit(I6ID);
constexpr int kOptions = I6ID + 1;

struct Name {
  template <size_t N>
  constexpr Name(const char (&t)[N], int v) : text(t), length(N - 1), value(v) {}
  const char* text;
  size_t length;
  int value;
};

const Name kLongOptions[] = {
    {"--sport", SPORT},        {"--dport", DPORT},        {"--reply-port-src", RSPORT}, {"--reply-port-dst", RDPORT},
    {"--state", STATE},        {"--icmp-type", ITYPE},    {"--icmp-code", ICODE},       {"--icmp-id", IID},
    {"--icmpv6-type", I6TYPE}, {"--icmpv6-code", I6CODE}, {"--icmpv6-id", I6ID},
};
// Status bits a line may set by name (UNSET: none).
const Name kStatus[] = {{"UNSET", 0},
                        {"ASSURED", IPS_ASSURED},
                        {"SEEN_REPLY", IPS_SEEN_REPLY},
                        {"FIXED_TIMEOUT", IPS_FIXED_TIMEOUT},
                        {"EXPECTED", IPS_EXPECTED},
                        {"OFFLOAD", IPS_OFFLOAD},
                        {"HW_OFFLOAD", IPS_HW_OFFLOAD}};
// TCP states as the kernel numbers them (enum tcp_conntrack); LISTEN is conntrack's name for SYN_SENT2.
const Name kTcpStates[] = {{"NONE", 0},     {"SYN_SENT", 1},   {"SYN_RECV", 2}, {"ESTABLISHED", 3},
                           {"FIN_WAIT", 4}, {"CLOSE_WAIT", 5}, {"LAST_ACK", 6}, {"TIME_WAIT", 7},
                           {"CLOSE", 8},    {"SYN_SENT2", 9},  {"LISTEN", 9}};
const Name kProtocols[] = {{"tcp", IPPROTO_TCP},
                           {"udp", IPPROTO_UDP},
                           {"udplite", IPPROTO_UDPLITE},
                           {"icmp", IPPROTO_ICMP},
                           {"icmpv6", IPPROTO_ICMPV6}};

// A line being read: the text and where each option's value is. The text is a JS string's
// UTF-16 code units (char16_t) or the bytes of an ASCII file (uint8_t).
template <typename C>
struct Line {
  const C* text;
  uint32_t seen = 0;
  int32_t from[kOptions] = {};
  int32_t to[kOptions] = {};
};

// The value of the name spelt by text[from, to), -1 for none.
template <size_t N, typename C>
int NameAt(const Name (&names)[N], const C* text, int32_t from, int32_t to) {
  const size_t n = static_cast<size_t>(to - from);
  for (const Name& name : names) {
    if (name.length != n) continue;
    size_t i = 0;
    while (i < n && static_cast<uint32_t>(text[from + i]) == static_cast<unsigned char>(name.text[i])) i++;
    if (i == n) return name.value;
  }
  return -1;
}

// The decimal number in text[from, to): at most 9 digits and at most max (-1: not one).
template <typename C>
int64_t DecimalAt(const C* text, int32_t from, int32_t to, int64_t max) {
  if (to <= from || to - from > 9) return -1;
  int64_t v = 0;
  for (int32_t i = from; i < to; i++) {
    const uint32_t c = text[i];
    if (c < u'0' || c > u'9') return -1;
    v = v * 10 + (c - u'0');
  }
  return v <= max ? v : -1;
}

template <typename C>
int64_t NumberOf(const Line<C>& l, Opt o, int64_t max) {
  return (l.seen & Bit(o)) ? DecimalAt(l.text, l.from[o], l.to[o], max) : -1;
}

// A mark or zone: conntrack reads these as C does (010 is octal 8, 08 is 0), so one written
// with a leading zero is left to the full parser (-1).
template <typename C>
int64_t CNumberOf(const Line<C>& l, Opt o, int64_t max) {
  if ((l.seen & Bit(o)) && l.to[o] - l.from[o] > 1 && l.text[l.from[o]] == u'0') return -1;
  return NumberOf(l, o, max);
}

// The address in text[from, to) written at out: 4 or 6 for its family, 0 when it is not one.
// IPv4 is four decimal parts of 0-255 without leading zeros; IPv6 what inet_pton takes.
template <typename C>
int AddressAt(const C* text, int32_t from, int32_t to, uint8_t* out) {
  const int32_t n = to - from;
  if (n < 2 || n > 45) return 0;
  // Dotted IPv4 (no leading zeros), read as it goes; where it stops being that before any dot,
  // IPv6.
  int part = 0, value = 0, digits = 0;
  int32_t i = 0;
  for (; i <= n; i++) {
    const uint32_t c = i < n ? static_cast<uint32_t>(text[from + i]) : u'.';
    if (c == u'.') {
      if (digits == 0 || part > 3 || value > 255) return 0;
      out[part++] = static_cast<uint8_t>(value);
      value = digits = 0;
    } else if (c >= u'0' && c <= u'9' && !(digits > 0 && value == 0) && digits < 3) {
      value = value * 10 + static_cast<int>(c - u'0');
      digits++;
    } else {  // not IPv4 from here (a fourth digit or a leading zero is, before any dot, IPv6 text)
      break;
    }
  }
  if (i > n) return part == 4 ? 4 : 0;
  if (part > 0) return 0;  // a dot before any colon: not IPv6 either
  char ascii[46];
  for (i = 0; i < n; i++) {
    const uint32_t c = text[from + i];
    // Only what an address is written with: a NUL would end the string inet_pton() reads.
    if (!((c >= u'0' && c <= u'9') || c == u'.' || c == u':' || (c >= u'a' && c <= u'f') || (c >= u'A' && c <= u'F')))
      return 0;
    ascii[i] = static_cast<char>(c);
  }
  ascii[n] = '\0';
  return inet_pton(AF_INET6, ascii, out) == 1 ? 6 : 0;
}

// The option spelt by the two characters at text[at]: -p, -t, -s, -d, -r, -q, -u, -m or -w
// (-1: another).
template <typename C>
int ShortOption(const C* text, int32_t at) {
  if (text[at] != u'-') return -1;
  switch (static_cast<uint32_t>(text[at + 1])) {
    case u'p': return P;
    case u't': return T;
    case u's': return S;
    case u'd': return D;
    case u'r': return R;
    case u'q': return Q;
    case u'u': return U;
    case u'm': return M;
    case u'w': return W;
    default: return -1;
  }
}

// Fewer characters than any line PackLine() reads (the shortest,
// `-I -p udp -s :: -d :: --sport 0 --dport 0 -t 0`, has 46).
constexpr int32_t kShortestLine = 40;

// 1 when text[from, to) may be a -I line, 2 a -A line, 0 when it cannot be either.
template <typename C>
int CommandOf(const C* t, int32_t from, int32_t to) {
  if (to - from < kShortestLine || t[from] != u'-' || t[from + 2] != u' ') return 0;
  return t[from + 1] == u'I' ? 1 : t[from + 1] == u'A' ? 2 : 0;
}

// Packs text[from, to) (no blank at either end) into words (zeroed): 1 for a -I line, 2 for a
// -A line, 0 for a line it does not read.
template <typename C>
int PackLine(Line<C>& l, int32_t from, int32_t to, uint32_t* words) {
  const C* t = l.text;
  const int command = CommandOf(t, from, to);
  if (command == 0) return 0;
  uint32_t seen = 0;
  for (int32_t i = from + 3; i < to;) {
    int32_t key_end = i;
    while (key_end < to && t[key_end] != u' ') key_end++;
    if (key_end == i || key_end >= to) return 0;  // an empty word, or an option without a value
    int32_t value_end = key_end + 1;
    while (value_end < to && t[value_end] != u' ') value_end++;
    if (value_end == key_end + 1) return 0;  // an empty word
    const int o = key_end - i == 2 ? ShortOption(t, i) : NameAt(kLongOptions, t, i, key_end);
    if (o < 0 || (seen & (1u << o))) return 0;
    seen |= 1u << o;
    l.from[o] = key_end + 1;
    l.to[o] = value_end;
    i = value_end + 1;
    if (value_end == to - 1) return 0;  // a blank after the last value
  }
  l.seen = seen;
  if ((seen & kRequired) != kRequired) return 0;
  const int proto = NameAt(kProtocols, t, l.from[P], l.to[P]);
  const int64_t timeout = NumberOf(l, T, 999999999);
  if (proto < 0 || timeout < 0) return 0;
  uint32_t* orig = words + SPEC_ORIG;
  uint32_t* reply = words + SPEC_REPLY;
  uint8_t* orig_src = reinterpret_cast<uint8_t*>(orig + SPEC_TUPLE_SRC);
  uint8_t* orig_dst = reinterpret_cast<uint8_t*>(orig + SPEC_TUPLE_DST);
  const int family = AddressAt(t, l.from[S], l.to[S], orig_src);
  if (family == 0 || AddressAt(t, l.from[D], l.to[D], orig_dst) != family) return 0;
  if ((proto == IPPROTO_ICMP && family != 4) || (proto == IPPROTO_ICMPV6 && family != 6)) return 0;
  words[SPEC_KIND] = static_cast<uint32_t>(family == 4 ? AF_INET : AF_INET6) | (static_cast<uint32_t>(proto) << 8);
  // The ports or ICMP word of each direction; the reply's is the original's swapped.
  uint32_t word, reply_word;
  int tuple;
  if (proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_UDPLITE) {
    if (seen & (kIcmp | kIcmpv6)) return 0;
    const int64_t sp = NumberOf(l, SPORT, 65535);
    const int64_t dp = NumberOf(l, DPORT, 65535);
    if (sp < 0 || dp < 0) return 0;
    word = static_cast<uint32_t>(sp | (dp << 16));
    reply_word = static_cast<uint32_t>(dp | (sp << 16));
    tuple = SPEC_TUPLE_PORTS;
  } else {
    const bool v6 = proto == IPPROTO_ICMPV6;
    if (seen & (kPorts | kReplyPorts | (v6 ? kIcmp : kIcmpv6))) return 0;
    const int64_t type = NumberOf(l, v6 ? I6TYPE : ITYPE, 255);
    const int64_t code = NumberOf(l, v6 ? I6CODE : ICODE, 255);
    const int64_t id = NumberOf(l, v6 ? I6ID : IID, 65535);
    if (type < 0 || code < 0 || id < 0) return 0;
    // The query types and their replies, both ways; another type has no reply to derive.
    static const int kIcmpPairs[][2] = {{8, 0}, {13, 14}, {15, 16}, {17, 18}};
    static const int kIcmpv6Pairs[][2] = {{128, 129}, {130, 131}};
    int64_t reply_type = -1;
    const int(*pairs)[2] = v6 ? kIcmpv6Pairs : kIcmpPairs;
    const size_t n = v6 ? sizeof(kIcmpv6Pairs) / sizeof(kIcmpv6Pairs[0]) : sizeof(kIcmpPairs) / sizeof(kIcmpPairs[0]);
    for (size_t k = 0; k < n; k++) {
      if (pairs[k][0] == type) reply_type = pairs[k][1];
      if (pairs[k][1] == type) reply_type = pairs[k][0];
    }
    if (reply_type < 0) return 0;
    word = static_cast<uint32_t>(type | (code << 8) | (id << 16));
    reply_word = static_cast<uint32_t>(reply_type | (code << 8) | (id << 16));
    tuple = SPEC_TUPLE_ICMP;
  }
  const size_t size = family == 4 ? 4 : 16;
  if (seen & kReply) {
    if ((seen & kReply) != kReply) return 0;
    if (AddressAt(t, l.from[R], l.to[R], reinterpret_cast<uint8_t*>(reply + SPEC_TUPLE_SRC)) != family) return 0;
    if (AddressAt(t, l.from[Q], l.to[Q], reinterpret_cast<uint8_t*>(reply + SPEC_TUPLE_DST)) != family) return 0;
    if (seen & kReplyPorts) {
      const int64_t rsp = NumberOf(l, RSPORT, 65535);
      const int64_t rdp = NumberOf(l, RDPORT, 65535);
      if (rsp < 0 || rdp < 0) return 0;
      reply_word = static_cast<uint32_t>(rsp | (rdp << 16));
    } else if (tuple == SPEC_TUPLE_PORTS) {
      return 0;  // a reply tuple without its ports: the full parser (the kernel refuses it)
    }
  } else {
    if (seen & kReplyPorts) return 0;
    std::memcpy(reply + SPEC_TUPLE_SRC, orig_dst, size);
    std::memcpy(reply + SPEC_TUPLE_DST, orig_src, size);
  }
  const uint32_t tuple_flags = tuple == SPEC_TUPLE_PORTS ? SPEC_TUPLE_HAS_PORTS : SPEC_TUPLE_HAS_ICMP;
  orig[tuple] = word;
  orig[SPEC_TUPLE_FLAGS] = tuple_flags;
  reply[tuple] = reply_word;
  reply[SPEC_TUPLE_FLAGS] = tuple_flags;
  words[SPEC_TIMEOUT] = static_cast<uint32_t>(timeout);
  uint32_t flags = SPEC_HAS_REPLY | SPEC_HAS_TIMEOUT;
  if (seen & Bit(U)) {
    uint32_t bits = 0;
    for (int32_t i = l.from[U], end = l.to[U]; i <= end;) {
      int32_t comma = i;
      while (comma < end && t[comma] != u',') comma++;
      const int bit = NameAt(kStatus, t, i, comma);
      if (bit < 0) return 0;
      bits |= static_cast<uint32_t>(bit);
      i = comma + 1;
    }
    if (bits != 0) {
      words[SPEC_STATUS] = bits;
      flags |= SPEC_HAS_STATUS;
    }
  }
  if (proto == IPPROTO_TCP) {
    const int state = (seen & Bit(STATE)) ? NameAt(kTcpStates, t, l.from[STATE], l.to[STATE]) : -1;
    if (state < 0) return 0;
    words[SPEC_STATE] = static_cast<uint32_t>(state);
    flags |= SPEC_HAS_TCP_STATE;
  } else if (seen & Bit(STATE)) {
    return 0;
  }
  if (seen & Bit(M)) {
    // Marks of ten digits take the full parser, as do marks and zones with a leading zero.
    const int64_t m = CNumberOf(l, M, 999999999);
    if (m < 0) return 0;
    words[SPEC_MARK] = static_cast<uint32_t>(m);
    flags |= SPEC_HAS_MARK;
  }
  if (seen & Bit(W)) {
    const int64_t z = CNumberOf(l, W, 65535);
    if (z < 0) return 0;
    words[SPEC_ZONE] = static_cast<uint32_t>(z);
    flags |= SPEC_HAS_ZONE;
  }
  words[SPEC_FLAGS] = flags;
  return command;
}

// ECMAScript white space and line terminators: what String.prototype.trim() cuts.
bool Blank(uint8_t c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
bool Blank(char16_t c) {
  if (c < 0x80) return c == u' ' || (c >= u'\t' && c <= u'\r');
  return c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
         c == 0x205f || c == 0x3000 || c == 0xfeff;
}

// The lines of t[0, length) read as readSave() describes (below).
template <typename C>
Napi::Value ReadLines(Napi::Env env, const C* t, int32_t length, bool with_fields) {
  std::vector<int32_t> fields;
  std::vector<int32_t> ranges;
  std::vector<int32_t> numbers;
  int32_t n = 0;
  for (int32_t at = 0; at <= length;) {
    int32_t end = at;
    while (end < length && t[end] != u'\n') end++;
    int32_t from = at, to = end;
    at = end + 1;
    n++;
    while (from < to && Blank(t[from])) from++;
    while (to > from && Blank(t[to - 1])) to--;
    if (from == to || t[from] == u'#') continue;
    ranges.push_back(from);
    ranges.push_back(to);
    numbers.push_back(n);
    // A line that cannot be a -I/-A line is the bad one: the lines past it are not read, and no
    // words are made for them (a file of short lines that is no save file would otherwise take
    // 208 bytes a line before its first line is refused).
    if (CommandOf(t, from, to) == 0) break;
  }
  size_t count = numbers.size();
  Napi::ArrayBuffer words = Napi::ArrayBuffer::New(env, count * SPEC_WORDS * sizeof(uint32_t));
  if (words.IsEmpty()) return env.Undefined();  // could not be made: a JS exception is pending
  // A new ArrayBuffer is zero-filled (V8 allocates it so): the words packing leaves are 0.
  auto* w = static_cast<uint32_t*>(words.Data());
  std::vector<uint8_t> kinds(count);
  Line<C> line;
  line.text = t;
  int64_t bad = -1;
  for (size_t i = 0; i < count; i++) {
    const int kind = PackLine(line, ranges[2 * i], ranges[2 * i + 1], w + i * SPEC_WORDS);
    if (kind == 0) {
      bad = static_cast<int64_t>(i);
      count = i + 1;
      break;
    }
    kinds[i] = static_cast<uint8_t>(kind);
    if (with_fields) {
      fields.push_back(((line.seen & kReply) ? 1 : 0) | ((line.seen & kReplyPorts) ? 2 : 0));
      for (Opt o : {S, D, R, Q}) {
        fields.push_back(line.from[o]);
        fields.push_back(line.to[o]);
      }
    }
  }
  Napi::Uint8Array kinds_out = Napi::Uint8Array::New(env, count);
  Napi::Int32Array numbers_out = Napi::Int32Array::New(env, count);
  Napi::Int32Array ranges_out = Napi::Int32Array::New(env, 2 * count);
  if (kinds_out.IsEmpty() || numbers_out.IsEmpty() || ranges_out.IsEmpty()) return env.Undefined();
  if (count > 0) {
    std::memcpy(kinds_out.Data(), kinds.data(), count);
    std::memcpy(numbers_out.Data(), numbers.data(), count * sizeof(int32_t));
    std::memcpy(ranges_out.Data(), ranges.data(), 2 * count * sizeof(int32_t));
  }
  Napi::Array out = Napi::Array::New(env, with_fields ? 6 : 5);
  out.Set(0u, words);
  out.Set(1u, kinds_out);
  out.Set(2u, numbers_out);
  out.Set(3u, ranges_out);
  out.Set(4u, Napi::Number::New(env, static_cast<double>(bad)));
  if (with_fields) {
    Napi::Int32Array fields_out = Napi::Int32Array::New(env, fields.size());
    if (fields_out.IsEmpty()) return env.Undefined();
    if (!fields.empty()) std::memcpy(fields_out.Data(), fields.data(), fields.size() * sizeof(int32_t));
    out.Set(5u, fields_out);
  }
  return out;
}

// readSave(text, fields?): [words, kinds, numbers, ranges, bad]. text is a string, or a
// Uint8Array of ASCII bytes (restore() hands a file's bytes over only when they are all ASCII,
// where a byte is the character). The lines of text that say something (white space at either
// end cut as trim() cuts it; blank lines and # comments left out), numbered from 1: line i is
// text[ranges[2i], ranges[2i+1]), line number numbers[i], packed into words (ArrayBuffer,
// SPEC_WORDS words each) with kinds[i] 1 (-I) or 2 (-A). bad is -1 when every line was packed,
// else the index of the first line it does not read (the arrays then end with that line). With
// withFields, a sixth array: for each line packed, 9 numbers: 1 when it gave the reply
// addresses, | 2 when it gave the reply ports; then where its -s, -d, -r and -q values start and
// end in text.
Napi::Value ReadSave(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const bool with_fields = info.Length() > 1 && info[1].ToBoolean().Value();
  if (info.Length() >= 1 && info[0].IsString()) {
    const std::u16string text = info[0].As<Napi::String>().Utf16Value();
    return ReadLines(env, text.data(), static_cast<int32_t>(text.size()), with_fields);
  }
  if (info.Length() >= 1 && info[0].IsTypedArray() &&
      info[0].As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array) {
    auto bytes = info[0].As<Napi::Uint8Array>();
    if (bytes.ElementLength() > static_cast<size_t>(INT32_MAX)) {
      Napi::RangeError::New(env, "readSave(): text of 2 GiB or more").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    return ReadLines(env, bytes.Data(), static_cast<int32_t>(bytes.ElementLength()), with_fields);
  }
  ThrowTypeError(env, "readSave(text: string | Uint8Array, withFields?: boolean)");
  return env.Undefined();
}

}  // namespace

void InitSave(Napi::Env env, Napi::Object exports) {
  exports.Set("readSave", Napi::Function::New(env, ReadSave, "readSave"));
}

}  // namespace ct
}  // namespace nfct
