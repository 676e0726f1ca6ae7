#include "kmsg/line.h"

#include <arpa/inet.h>

#include <cstring>

namespace nfct {
namespace klog {

namespace {

using sv = std::string_view;

// JavaScript's \s over latin1 text (the strings lib/ compares with are latin1).
inline bool JsSpace(unsigned char c) { return c == ' ' || (c >= 9 && c <= 13) || c == 0xA0; }
inline bool Digit(unsigned char c) { return c >= '0' && c <= '9'; }
inline int HexVal(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// /^\d{1,10}$/, and the value fits 32 bits.
bool Dec(sv v, uint32_t* out) {
  if (v.empty() || v.size() > 10) return false;
  uint64_t n = 0;
  for (unsigned char c : v) {
    if (!Digit(c)) return false;
    n = n * 10 + (c - '0');
  }
  if (n > 0xffffffffu) return false;
  *out = static_cast<uint32_t>(n);
  return true;
}

bool HexDigits(sv v, uint32_t* out) {
  if (v.empty() || v.size() > 8) return false;
  uint32_t n = 0;
  for (unsigned char c : v) {
    const int h = HexVal(c);
    if (h < 0) return false;
    n = n << 4 | static_cast<uint32_t>(h);
  }
  *out = n;
  return true;
}

// /^0x[0-9a-fA-F]{1,8}$/
bool Hex0x(sv v, uint32_t* out) { return v.size() > 2 && v[0] == '0' && v[1] == 'x' && HexDigits(v.substr(2), out); }

bool StartsWith(sv s, sv p) { return s.size() >= p.size() && s.compare(0, p.size(), p) == 0; }

// Where `IN=... OUT=... ` is (lib/nflog/logline-parse.ts RE_IN_OUT, else RE_IN_ONLY).
struct InOut {
  bool found = false;
  bool has_out = false;
  size_t at = 0;    // where IN= starts: the prefix is what comes before
  sv in, out;
  size_t rest = 0;  // where the fields after them start
};

size_t RunOf(sv t, size_t i) {
  while (i < t.size() && !JsSpace(t[i]) && t[i] != '=') i++;
  return i;
}

InOut FindInOut(sv t) {
  InOut r;
  for (size_t pos = t.find("IN="); pos != sv::npos; pos = t.find("IN=", pos + 1)) {
    const size_t i = pos + 3;
    const size_t j = RunOf(t, i);
    if (t.compare(j, 5, " OUT=") != 0) continue;
    const size_t k = j + 5;
    const size_t m = RunOf(t, k);
    if (m < t.size() && t[m] != ' ') continue;
    r.found = r.has_out = true;
    r.at = pos;
    r.in = t.substr(i, j - i);
    r.out = t.substr(k, m - k);
    r.rest = m < t.size() ? m + 1 : m;
    return r;
  }
  for (size_t pos = t.find("IN="); pos != sv::npos; pos = t.find("IN=", pos + 1)) {
    const size_t i = pos + 3;
    const size_t j = RunOf(t, i);
    if (j < t.size() && t[j] != ' ') continue;
    r.found = true;
    r.at = pos;
    r.in = t.substr(i, j - i);
    r.rest = j < t.size() ? j + 1 : j;
    return r;
  }
  return r;
}

// `TRACE: table:chain:rule|return|policy:N ` (lib/trace/handle.ts parseTracePrefix).
struct Hop {
  sv table, chain;
  uint32_t kind = 0;
  uint32_t rule = 0;
};

bool ParseHop(sv prefix, Hop* hop) {
  size_t b = 0;
  while (b < prefix.size() && JsSpace(prefix[b])) b++;
  sv s = prefix.substr(b);
  if (!StartsWith(s, "TRACE: ")) return false;
  s.remove_prefix(7);
  if (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  size_t d = s.size();
  while (d > 0 && Digit(s[d - 1])) d--;
  const size_t digits = s.size() - d;
  if (digits == 0 || digits > 10 || d == 0 || s[d - 1] != ':') return false;
  uint32_t rule = 0;
  if (!Dec(s.substr(d), &rule)) return false;  // more than 32 bits: not a rule number
  const size_t kind_end = d - 1;  // the colon before the number
  if (kind_end == 0) return false;
  const size_t kind_start = s.rfind(':', kind_end - 1);
  if (kind_start == sv::npos) return false;
  const sv kind = s.substr(kind_start + 1, kind_end - kind_start - 1);
  if (kind == "rule") hop->kind = KK_RULE;
  else if (kind == "return") hop->kind = KK_RETURN;
  else if (kind == "policy") hop->kind = KK_POLICY;
  else return false;
  const size_t colon = s.find(':');
  if (colon == 0 || colon >= kind_start) return false;
  hop->table = s.substr(0, colon);
  hop->chain = s.substr(colon + 1, kind_start - colon - 1);
  if (hop->chain.empty()) return false;
  for (unsigned char c : hop->table) if (JsSpace(c)) return false;
  for (unsigned char c : hop->chain) if (JsSpace(c)) return false;
  hop->rule = rule;
  return true;
}

// One packet's IP and transport fields: the line's, or the one an ICMP error quotes.
struct Level {
  uint32_t w[KLOG_WORDS];
  uint32_t p = 0, q = 0;
  bool l4 = false, tcp = false, icmp = false;
  uint32_t ip_flags_last = 0, tcp_flags_last = 0;
  sv src, dst, ipopt, proto, tcpopt;
  Level() { memset(w, 0, sizeof(w)); }
};

// The fields of one LOG line, as far as a record carries them.
struct Fields {
  Level top, inner;
  bool has_inner = false;
  bool complex = false;
  sv in, out, physin, physout, macsrc, macdst, mac;
};

const struct { const char* name; uint32_t number; } kProtoNames[] = {
    {"TCP", 6}, {"UDP", 17}, {"UDPLITE", 136}, {"ICMP", 1}, {"ICMPv6", 58}, {"AH", 51}, {"ESP", 50}};
// The LOG target's order of the TCP flags; each is a bit of KL_TCPFLAGS.
const struct { const char* name; uint32_t bit; } kTcpFlags[] = {
    {"AE", 256}, {"CWR", 128}, {"ECE", 64}, {"URG", 32}, {"ACK", 16}, {"PSH", 8}, {"RST", 4}, {"SYN", 2}, {"FIN", 1}};

bool Num(sv v, Level* l, uint32_t word, uint32_t* present, uint32_t bit, bool (*parse)(sv, uint32_t*)) {
  if (!parse(v, &l->w[word])) return false;
  *present |= bit;
  return true;
}

// The keys only the line itself has (lib/nflog/logline-parse.ts reads them outside a quote).
bool LineField(Fields* f, sv key, sv value, bool* handled) {
  Level* l = &f->top;
  uint32_t& p = l->p;
  *handled = true;
  if (key == "PHYSIN") return f->physin = value, p |= KP_PHYSIN, true;
  if (key == "PHYSOUT") return f->physout = value, p |= KP_PHYSOUT, true;
  if (key == "MAC") {
    // Colon-separated pairs of hex digits, or nothing.
    for (size_t i = 0; i < value.size(); i += 3) {
      if (i + 2 > value.size() || HexVal(value[i]) < 0 || HexVal(value[i + 1]) < 0) return false;
      if (i + 2 < value.size() && value[i + 2] != ':') return false;
      if (i + 2 == value.size() - 1) return false;  // a trailing colon
    }
    f->mac = value;
    p |= KP_MAC;
    return true;
  }
  if (key == "MACSRC") return f->macsrc = value, p |= KP_MACSRC, true;
  if (key == "MACDST") return f->macdst = value, p |= KP_MACDST, true;
  if (key == "MACPROTO") return Num(value, l, KL_MACPROTO, &p, KP_MACPROTO, HexDigits);
  if (key == "VPROTO") return Num(value, l, KL_VPROTO, &p, KP_VPROTO, HexDigits);
  if (key == "VID") return Num(value, l, KL_VID, &p, KP_VID, Dec);
  if (key == "UID") return Num(value, l, KL_UID, &p, KP_UID, Dec);
  if (key == "GID") return Num(value, l, KL_GID, &p, KP_GID, Dec);
  if (key == "MARK") return Num(value, l, KL_MARK, &p, KP_MARK, Hex0x);
  *handled = false;
  return false;
}

// One KEY=VALUE of a packet; false when the record cannot carry it.
bool Field(Level* l, sv key, sv value) {
  uint32_t& p = l->p;
  uint32_t& q = l->q;
  if (key == "SRC") return !l->l4 && (l->src = value, p |= KP_SRC, true);
  if (key == "DST") return !l->l4 && (l->dst = value, p |= KP_DST, true);
  if (key == "LEN") return l->l4 ? Num(value, l, KL_UDPLEN, &q, KQ_UDPLEN, Dec) : Num(value, l, KL_LEN, &p, KP_LEN, Dec);
  if (key == "TOS") return Num(value, l, KL_TOS, &p, KP_TOS, Hex0x);
  if (key == "PREC") return Num(value, l, KL_PREC, &p, KP_PREC, Hex0x);
  if (key == "TTL") return Num(value, l, KL_TTL, &p, KP_TTL, Dec);
  if (key == "TC") return Num(value, l, KL_TC, &p, KP_TC, Dec);
  if (key == "HOPLIMIT") return Num(value, l, KL_HOPLIMIT, &p, KP_HOPLIMIT, Dec);
  if (key == "FLOWLBL") return Num(value, l, KL_FLOWLBL, &p, KP_FLOWLBL, Dec);
  if (key == "ID") {
    if (!l->l4) return Num(value, l, KL_IPID, &p, KP_ID, Dec);
    return l->icmp && Num(value, l, KL_ICMPID, &q, KQ_ICMPID, Dec);
  }
  if (key == "PROTO") {
    if (l->l4) return false;  // a second one: left to the parser
    l->l4 = true;
    l->proto = value;
    p |= KP_PROTO;
    for (const auto& n : kProtoNames) {
      if (value == n.name) {
        l->w[KL_PROTO] = n.number;
        q |= KQ_PROTONUM;
      }
    }
    if (!(q & KQ_PROTONUM) && Dec(value, &l->w[KL_PROTO])) q |= KQ_PROTONUM;
    if (value == "TCP") {
      l->tcp = true;
      q |= KQ_TCP;
    }
    return true;
  }
  if (!l->l4) return false;
  if (key == "SPT") return Num(value, l, KL_SPT, &q, KQ_SPT, Dec);
  if (key == "DPT") return Num(value, l, KL_DPT, &q, KQ_DPT, Dec);
  if (l->tcp) {
    if (key == "SEQ") return Num(value, l, KL_TCPSEQ, &q, KQ_TCPSEQ, Dec);
    if (key == "ACK") return Num(value, l, KL_TCPACK, &q, KQ_TCPACK, Dec);
    if (key == "WINDOW") return Num(value, l, KL_WINDOW, &q, KQ_WINDOW, Dec);
    if (key == "RES") return Num(value, l, KL_RES, &q, KQ_RES, Hex0x);
    if (key == "URGP") return Num(value, l, KL_URGP, &q, KQ_URGP, Dec);
    return false;
  }
  if (key == "TYPE" || key == "CODE") {
    const bool type = key == "TYPE";
    if (!Num(value, l, type ? KL_ICMPTYPE : KL_ICMPCODE, &q, type ? KQ_ICMPTYPE : KQ_ICMPCODE, Dec)) return false;
    l->icmp = true;
    q |= KQ_ICMP;
    return true;
  }
  if (!l->icmp) return false;
  if (key == "SEQ") return Num(value, l, KL_ICMPSEQ, &q, KQ_ICMPSEQ, Dec);
  if (key == "MTU") return Num(value, l, KL_ICMPMTU, &q, KQ_ICMPMTU, Dec);
  return false;
}

// The words after `IN= OUT=`, read as lib/nflog/logline-parse.ts's Walker does: the line's
// packet, and inside `[` `]` the one an ICMP error quotes.
void Walk(sv rest, Fields* f) {
  size_t i = 0;
  auto next = [&](sv* tok) {
    while (i < rest.size() && rest[i] == ' ') i++;
    if (i >= rest.size()) return false;
    const size_t e = rest.find(' ', i);
    const size_t end = e == sv::npos ? rest.size() : e;
    *tok = rest.substr(i, end - i);
    i = end;
    return true;
  };
  bool nested = false;
  Level* l = &f->top;
  sv tok;
  while (!f->complex && next(&tok)) {
    if (nested && tok == "]") {
      nested = false;
      l = &f->top;
      continue;
    }
    if (!nested && !f->has_inner && StartsWith(tok, "[SRC=")) {
      f->has_inner = nested = true;
      l = &f->inner;
      tok.remove_prefix(1);
    } else if (tok[0] == '[' || (tok.size() > 1 && tok.back() == ']')) {
      f->complex = true;
      break;
    }
    if (tok == "INCOMPLETE") {
      // `INCOMPLETE [n bytes]`: the header did not fit in what the packet held.
      sv a, b;
      const size_t save = i;
      if (next(&a) && next(&b) && b == "bytes]" && a.size() > 1 && a[0] == '[' && Dec(a.substr(1), &l->w[KL_INCOMPLETE])) {
        l->q |= KQ_INCOMPLETE;
        continue;
      }
      i = save;
      f->complex = true;
      break;
    }
    if (tok == "OPT") {
      sv body;
      const size_t save = i;
      if (next(&body) && body.size() >= 2 && body.front() == '(' && body.back() == ')' &&
          body.find_first_of("\r\n") == sv::npos) {
        body = body.substr(1, body.size() - 2);
        if (body == "TRUNCATED") f->complex = true;
        else if (l->tcp) l->tcpopt = body, l->q |= KQ_TCPOPT;
        else l->ipopt = body, l->p |= KP_IPOPT;
        continue;
      }
      i = save;
      f->complex = true;
      break;
    }
    if (!l->l4 && (tok == "CE" || tok == "DF" || tok == "MF")) {
      const uint32_t bit = tok == "CE" ? 1 : tok == "DF" ? 2 : 4;
      if (bit <= l->ip_flags_last) f->complex = true;  // out of the kernel's order: left to the parser
      l->w[KL_IPFLAGS] |= bit;
      l->ip_flags_last = bit;
      continue;
    }
    if (l->tcp) {
      uint32_t bit = 0;
      for (const auto& fl : kTcpFlags) if (tok == fl.name) bit = fl.bit;
      if (bit != 0) {
        // Highest bit first, each once.
        if (l->tcp_flags_last != 0 && bit >= l->tcp_flags_last) f->complex = true;
        l->w[KL_TCPFLAGS] |= bit;
        l->tcp_flags_last = bit;
        continue;
      }
    }
    if (StartsWith(tok, "FRAG:")) {
      if (!Dec(tok.substr(5), &l->w[KL_FRAG])) f->complex = true;
      l->p |= KP_FRAG;
      continue;
    }
    const size_t eq = tok.find('=');
    if (eq == sv::npos || eq == 0) {
      f->complex = true;
      break;
    }
    const sv key = tok.substr(0, eq), value = tok.substr(eq + 1);
    bool handled = false;
    if (!nested && LineField(f, key, value, &handled)) continue;
    if (handled || !Field(l, key, value)) f->complex = true;
  }
  if (nested) f->complex = true;  // a quote without its end
}

// FNV-1a of the packet's header words from SRC= on, less those a hop may change (TTL and hop
// limit fall on forwarding, TOS and MARK may be rewritten, UID and GID are there on the way
// out only): the hops of one packet share it.
uint32_t HopId(sv rest) {
  uint32_t h = 0x811c9dc5u;
  const size_t src = rest.find("SRC=");
  if (src == sv::npos) return h;
  size_t i = src;
  while (i < rest.size()) {
    size_t e = rest.find(' ', i);
    if (e == sv::npos) e = rest.size();
    const sv tok = rest.substr(i, e - i);
    i = e + 1;
    if (tok.empty() || StartsWith(tok, "TTL=") || StartsWith(tok, "HOPLIMIT=") || StartsWith(tok, "MARK=") ||
        StartsWith(tok, "TOS=") || StartsWith(tok, "PREC=") || StartsWith(tok, "TC=") || StartsWith(tok, "UID=") ||
        StartsWith(tok, "GID=")) {
      continue;
    }
    for (unsigned char c : tok) h = (h ^ c) * 0x01000193u;
    h = (h ^ ' ') * 0x01000193u;
  }
  return h;
}

bool AddrIn(const Filter::Net& net, sv text) {
  char buf[64];
  if (text.empty() || text.size() >= sizeof(buf)) return false;
  memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  uint8_t a[16];
  const int fam = text.find(':') != sv::npos ? AF_INET6 : AF_INET;
  if (inet_pton(fam, buf, a) != 1) return false;
  if ((fam == AF_INET6 ? 6 : 4) != net.family) return false;
  int bits = net.bits;
  for (int i = 0; bits > 0; i++, bits -= 8) {
    const uint8_t mask = bits >= 8 ? 0xff : static_cast<uint8_t>(0xff << (8 - bits));
    if ((a[i] & mask) != (net.addr[i] & mask)) return false;
  }
  return true;
}

// Whether a record the decoder could read whole matches the address and port conditions.
bool Matches(const Filter& f, const Level& x) {
  if (f.family != 0) {
    if (!(x.p & KP_SRC)) return false;
    if ((x.src.find(':') != sv::npos ? 6 : 4) != f.family) return false;
  }
  if (f.protocol >= 0 && (!(x.q & KQ_PROTONUM) || x.w[KL_PROTO] != f.protocol)) return false;
  if (f.src.set && (!(x.p & KP_SRC) || !AddrIn(f.src, x.src))) return false;
  if (f.dst.set && (!(x.p & KP_DST) || !AddrIn(f.dst, x.dst))) return false;
  const bool spt = x.q & KQ_SPT, dpt = x.q & KQ_DPT;
  if (f.sport >= 0 && (!spt || x.w[KL_SPT] != static_cast<uint32_t>(f.sport))) return false;
  if (f.dport >= 0 && (!dpt || x.w[KL_DPT] != static_cast<uint32_t>(f.dport))) return false;
  if (f.port >= 0 && !((spt && x.w[KL_SPT] == static_cast<uint32_t>(f.port)) || (dpt && x.w[KL_DPT] == static_cast<uint32_t>(f.port)))) {
    return false;
  }
  return true;
}

void PutString(Batch* b, sv s) {
  b->strings.append(s.data(), s.size());
  b->strings.push_back('\0');
}

void PutEnvelope(const Envelope& env, uint32_t* w, uint32_t* p, uint32_t* q) {
  if (env.has_seq) {
    w[KL_SEQ] = static_cast<uint32_t>(env.seq);
    w[KL_SEQ + 1] = static_cast<uint32_t>(env.seq >> 32);
    *p |= KP_SEQ;
  }
  if (env.has_time) {
    w[KL_TIME] = static_cast<uint32_t>(env.time_ns);
    w[KL_TIME + 1] = static_cast<uint32_t>(env.time_ns >> 32);
    *p |= KP_TIME;
  }
  if (env.has_ktime) {
    w[KL_KTIME] = static_cast<uint32_t>(env.ktime_us);
    w[KL_KTIME + 1] = static_cast<uint32_t>(env.ktime_us >> 32);
    *p |= KP_KTIME;
  }
  if (env.level >= 0) {
    w[KL_KIND] |= static_cast<uint32_t>(env.level & 7) << 8;
    *p |= KP_LEVEL;
  }
  if (env.facility >= 0) {
    w[KL_KIND] |= static_cast<uint32_t>(env.facility & 0xffff) << 16;
    *q |= KQ_FACILITY;
  }
  if (!env.host.empty()) *q |= KQ_HOST;
}

// Parses `digits` (at most `max`) at s[*i]; false when there are none.
bool Digits(sv s, size_t* i, size_t min, size_t max, uint32_t* out) {
  size_t n = 0;
  uint64_t v = 0;
  while (*i + n < s.size() && n < max && Digit(s[*i + n])) v = v * 10 + (s[*i + n++] - '0');
  if (n < min) return false;
  *i += n;
  *out = static_cast<uint32_t>(v);
  return true;
}

bool Lit(sv s, size_t* i, char c) {
  if (*i >= s.size() || s[*i] != c) return false;
  (*i)++;
  return true;
}

const char* const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

int Month(sv s) {
  for (int m = 0; m < 12; m++) if (s == kMonths[m]) return m;
  return -1;
}

// `.123456` after the seconds: the fraction in nanoseconds (digits past the ninth ignored).
uint64_t FractionNs(sv digits) {
  uint64_t ns = 0;
  for (size_t k = 0; k < 9; k++) ns = ns * 10 + (k < digits.size() ? digits[k] - '0' : 0);
  return ns;
}

bool ValidTime(uint32_t day, uint32_t h, uint32_t m, uint32_t s) { return day >= 1 && day <= 31 && h < 24 && m < 60 && s <= 60; }

// `host tag[pid]: ` after a syslog time: /^ (\S+) ([^\s:[\]]+)(?:\[(\d+)\])?: /
bool SyslogRest(sv t, size_t* i, sv* host, sv* tag) {
  size_t k = *i;
  if (!Lit(t, &k, ' ')) return false;
  const size_t h = k;
  while (k < t.size() && !JsSpace(t[k])) k++;
  if (k == h || !Lit(t, &k, ' ')) return false;
  *host = t.substr(h, k - 1 - h);
  const size_t g = k;
  while (k < t.size() && !JsSpace(t[k]) && t[k] != ':' && t[k] != '[' && t[k] != ']') k++;
  if (k == g) return false;
  *tag = t.substr(g, k - g);
  if (k < t.size() && t[k] == '[') {
    size_t d = k + 1;
    while (d < t.size() && Digit(t[d])) d++;
    if (d == k + 1 || d >= t.size() || t[d] != ']') return false;
    k = d + 1;
  }
  if (t.compare(k, 2, ": ") != 0) return false;
  *i = k + 2;
  return true;
}

}  // namespace

Clock::Clock() {
  tzset();
  now_ = time(nullptr);
  struct tm tm {};
  const time_t now = static_cast<time_t>(now_);
  localtime_r(&now, &tm);
  this_year_ = tm.tm_year + 1900;
}

uint32_t Interner::Id(sv s, bool* fresh) {
  auto it = ids_.find(s);
  if (it != ids_.end()) {
    *fresh = false;
    return it->second;
  }
  store_.emplace_back(s);
  const uint32_t id = static_cast<uint32_t>(ids_.size());
  ids_.emplace(sv(store_.back()), id);
  bytes_ += s.size();
  *fresh = true;
  return id;
}

bool Interner::ResetIfFull() {
  if (ids_.size() < kMaxStrings && bytes_ < kMaxBytes) return false;
  ids_.clear();
  store_.clear();
  bytes_ = 0;
  return true;
}

int64_t Clock::Local(int year, int mon, int day, int hour, int min, int sec) {
  const int key = (((year + 1) * 12 + mon) * 32 + day) * 24 + hour;
  if (key != key_) {
    auto make = [&](int y) {
      struct tm tm {};
      tm.tm_year = y - 1900;
      tm.tm_mon = mon;
      tm.tm_mday = day;
      tm.tm_hour = hour;
      tm.tm_isdst = -1;
      return static_cast<int64_t>(mktime(&tm));
    };
    if (year >= 0) {
      base_ = make(year);
    } else {
      now_ = time(nullptr);
      base_ = make(this_year_);
      if (base_ > now_ + 86400) base_ = make(this_year_ - 1);
    }
    key_ = key;
  }
  return base_ + min * 60 + sec;
}

bool LineDecoder::Message(const Envelope& env, const char* msg, size_t len, Batch* batch) {
  const sv text(msg, len);
  // Strings cross into JS NUL-separated: a line holding a NUL byte is not read (counted).
  if (text.find('\0') != sv::npos || env.host.find('\0') != sv::npos) {
    batch->malformed++;
    return false;
  }
  const InOut io = env.kernel ? FindInOut(text) : InOut();
  Hop hop;
  uint32_t kind = KK_LINE;
  const sv prefix = io.found ? text.substr(0, io.at) : sv();
  if (io.found) kind = f_.hops && ParseHop(prefix, &hop) ? KK_HOP : KK_PACKET;
  if (kind == KK_PACKET && !f_.packets) return false;
  if (kind == KK_LINE && !f_.lines) return false;
  if (kind == KK_PACKET && f_.has_prefix && !StartsWith(prefix, f_.prefix)) return false;

  Fields x;
  Level& top = x.top;
  if (kind != KK_LINE) {
    x.in = io.in;
    top.p |= KP_IN;
    if (io.has_out) x.out = io.out, top.p |= KP_OUT;
    else x.complex = true;  // the older form without OUT=
    const sv rest = text.substr(io.rest);
    Walk(rest, &x);
    if (!x.complex && !Matches(f_, top)) return false;
    if (kind == KK_HOP) top.w[KL_HOPID] = HopId(rest);
  }
  uint32_t* w = top.w;
  w[KL_KIND] = kind | hop.kind << 4;
  PutEnvelope(env, w, &top.p, &top.q);
  if (x.complex) top.p |= KP_COMPLEX;
  else if (x.has_inner) top.q |= KQ_INNER;
  // Numbers for the strings lines repeat; a new one is sent with this record.
  uint32_t fresh = names_.ResetIfFull() ? static_cast<uint32_t>(KF_RESET) : 0u;
  auto name = [&](sv s, uint32_t* word, uint32_t bit) {
    bool is_new = false;
    *word = names_.Id(s, &is_new);
    if (is_new) fresh |= bit;
  };
  PutString(batch, text);
  if (kind != KK_LINE) {
    name(prefix, &w[KL_PREFIXID], KF_PREFIX);
    if (fresh & KF_PREFIX) PutString(batch, prefix);
    if (kind == KK_HOP) {
      name(hop.table, &w[KL_TABLEID], KF_TABLE);
      if (fresh & KF_TABLE) PutString(batch, hop.table);
      name(hop.chain, &w[KL_CHAINID], KF_CHAIN);
      if (fresh & KF_CHAIN) PutString(batch, hop.chain);
      w[KL_RULE] = hop.rule;
    }
    const struct { uint32_t bit; const sv* s; uint32_t word; uint32_t fresh; } devs[] = {
        {KP_IN, &x.in, KL_INID, KF_IN}, {KP_OUT, &x.out, KL_OUTID, KF_OUT},
        {KP_PHYSIN, &x.physin, KL_PHYSINID, KF_PHYSIN}, {KP_PHYSOUT, &x.physout, KL_PHYSOUTID, KF_PHYSOUT}};
    for (const auto& d : devs) {
      if (!(top.p & d.bit)) continue;
      name(*d.s, &w[d.word], d.fresh);
      if (fresh & d.fresh) PutString(batch, *d.s);
    }
    if (top.p & KP_MACSRC) PutString(batch, x.macsrc);
    if (top.p & KP_MACDST) PutString(batch, x.macdst);
    auto level = [&](Level& l) {
      if (l.p & KP_SRC) PutString(batch, l.src);
      if (l.p & KP_DST) PutString(batch, l.dst);
      if (l.p & KP_IPOPT) PutString(batch, l.ipopt);
      if (l.p & KP_PROTO) {
        bool is_new = false;
        l.w[KL_PROTOID] = names_.Id(l.proto, &is_new);
        if (is_new) {
          l.w[KL_FRESH] |= KF_PROTO;
          PutString(batch, l.proto);
        }
      }
      if (l.q & KQ_TCPOPT) PutString(batch, l.tcpopt);
    };
    level(top);
    if (top.q & KQ_INNER) level(x.inner);
    if (top.p & KP_MAC) {
      w[KL_MAC] = static_cast<uint32_t>(batch->bytes.size());
      for (size_t i = 0; i + 1 < x.mac.size(); i += 3) {
        batch->bytes.push_back(static_cast<uint8_t>(HexVal(x.mac[i]) << 4 | HexVal(x.mac[i + 1])));
      }
      w[KL_MAC + 1] = static_cast<uint32_t>(batch->bytes.size()) - w[KL_MAC];
    }
  }
  if (top.q & KQ_HOST) {
    name(env.host, &w[KL_HOSTID], KF_HOST);
    if (fresh & KF_HOST) PutString(batch, env.host);
  }
  w[KL_FRESH] |= fresh;
  w[KL_PRESENT] = top.p;
  w[KL_PRESENT2] = top.q;
  batch->words.insert(batch->words.end(), w, w + KLOG_WORDS);
  if (top.q & KQ_INNER) {
    Level& in = x.inner;
    in.w[KL_PRESENT] = in.p;
    in.w[KL_PRESENT2] = in.q;
    batch->words.insert(batch->words.end(), in.w, in.w + KLOG_WORDS);
  }
  batch->count++;
  return true;
}

void LineDecoder::Loss(uint64_t lost, uint64_t before, Batch* batch) {
  uint32_t w[KLOG_WORDS] = {};
  w[KL_KIND] = KK_LOSS;
  w[KL_PRESENT] = KP_SEQ;
  w[KL_SEQ] = static_cast<uint32_t>(before);
  w[KL_SEQ + 1] = static_cast<uint32_t>(before >> 32);
  w[KL_LOST] = static_cast<uint32_t>(lost);
  w[KL_LOST + 1] = static_cast<uint32_t>(lost >> 32);
  PutString(batch, sv());
  batch->words.insert(batch->words.end(), w, w + KLOG_WORDS);
  batch->count++;
}

bool LineDecoder::TextLine(const char* line, size_t len, Batch* batch) {
  const sv t(line, len);
  Envelope env;
  size_t i = 0;
  auto level = [&]() {
    size_t k = i;
    uint32_t n = 0;
    if (Lit(t, &k, '<') && Digits(t, &k, 1, 3, &n) && Lit(t, &k, '>')) {
      env.level = static_cast<int>(n & 7);
      i = k;
    }
  };
  level();
  bool syslog = false;
  sv tag;
  {
    // /^[A-Z][a-z]{2} {1,2}\d{1,2} \d{2}:\d{2}:\d{2}(?:\.\d+)?/ or the RFC 3339 form.
    size_t k = i;
    uint32_t day = 0, h = 0, m = 0, s = 0, year = 0, mon = 0;
    sv frac;
    bool bsd = false, iso = false;
    int64_t offset = 0;
    bool zone = false;
    if (k + 3 <= t.size() && t[k] >= 'A' && t[k] <= 'Z' && t[k + 1] >= 'a' && t[k + 1] <= 'z' && t[k + 2] >= 'a' && t[k + 2] <= 'z') {
      const sv name = t.substr(k, 3);
      k += 3;
      if (Lit(t, &k, ' ')) {
        Lit(t, &k, ' ');
        if (Digits(t, &k, 1, 2, &day) && Lit(t, &k, ' ') && Digits(t, &k, 2, 2, &h) && Lit(t, &k, ':') &&
            Digits(t, &k, 2, 2, &m) && Lit(t, &k, ':') && Digits(t, &k, 2, 2, &s)) {
          if (k + 1 < t.size() && t[k] == '.' && Digit(t[k + 1])) {
            const size_t f0 = ++k;
            while (k < t.size() && Digit(t[k])) k++;
            frac = t.substr(f0, k - f0);
          }
          bsd = true;
          mon = static_cast<uint32_t>(Month(name));
        }
      }
    } else if (Digits(t, &k, 4, 4, &year) && Lit(t, &k, '-') && Digits(t, &k, 2, 2, &mon) && Lit(t, &k, '-') &&
               Digits(t, &k, 2, 2, &day) && k < t.size() && (t[k] == 'T' || t[k] == ' ') && (++k, true) &&
               Digits(t, &k, 2, 2, &h) && Lit(t, &k, ':') && Digits(t, &k, 2, 2, &m) && Lit(t, &k, ':') &&
               Digits(t, &k, 2, 2, &s)) {
      if (k + 1 < t.size() && (t[k] == '.' || t[k] == ',') && Digit(t[k + 1])) {
        const size_t f0 = ++k;
        while (k < t.size() && Digit(t[k])) k++;
        frac = t.substr(f0, k - f0);
      }
      if (k < t.size() && t[k] == 'Z') {
        k++;
        zone = true;
      } else if (k < t.size() && (t[k] == '+' || t[k] == '-')) {
        size_t z = k + 1;
        uint32_t zh = 0, zm = 0;
        if (Digits(t, &z, 2, 2, &zh) && (Lit(t, &z, ':'), true) && Digits(t, &z, 2, 2, &zm)) {
          offset = (t[k] == '-' ? -1 : 1) * static_cast<int64_t>(zh * 3600 + zm * 60);
          zone = true;
          k = z;
        }
      }
      iso = true;
      mon -= 1;
    }
    sv host;
    if ((bsd || iso) && SyslogRest(t, &k, &host, &tag)) {
      syslog = true;
      env.host = host;
      env.kernel = tag == "kernel";
      i = k;
      if (ValidTime(day, h, m, s) && mon < 12) {
        int64_t secs;
        if (iso && zone) {
          struct tm tm {};
          tm.tm_year = static_cast<int>(year) - 1900;
          tm.tm_mon = static_cast<int>(mon);
          tm.tm_mday = static_cast<int>(day);
          tm.tm_hour = static_cast<int>(h);
          tm.tm_min = static_cast<int>(m);
          tm.tm_sec = static_cast<int>(s);
          secs = static_cast<int64_t>(timegm(&tm)) - offset;
        } else {
          secs = clock_.Local(iso ? static_cast<int>(year) : -1, static_cast<int>(mon), static_cast<int>(day),
                              static_cast<int>(h), static_cast<int>(m), static_cast<int>(s));
        }
        if (secs >= 0) {
          env.has_time = true;
          env.time_ns = static_cast<uint64_t>(secs) * 1000000000ull + FractionNs(frac);
        }
      }
    }
  }
  if (env.level < 0) level();
  // /^\[\s*(\d+\.\d+)\] ?/
  auto ktime = [&](bool keep) {
    size_t k = i;
    if (!Lit(t, &k, '[')) return false;
    while (k < t.size() && JsSpace(t[k])) k++;
    const size_t d0 = k;
    while (k < t.size() && Digit(t[k])) k++;
    if (k == d0 || !Lit(t, &k, '.')) return false;
    const size_t f0 = k;
    while (k < t.size() && Digit(t[k])) k++;
    if (k == f0 || !Lit(t, &k, ']')) return false;
    if (keep) {
      uint64_t secs = 0;
      for (size_t j = d0; j < f0 - 1 && j < d0 + 12; j++) secs = secs * 10 + (t[j] - '0');
      uint64_t us = 0;
      for (size_t j = 0; j < 6; j++) us = us * 10 + (f0 + j < k - 1 ? t[f0 + j] - '0' : 0);
      if (f0 - 1 - d0 <= 12) {
        env.has_ktime = true;
        env.ktime_us = secs * 1000000 + us;
      }
    }
    Lit(t, &k, ' ');
    i = k;
    return true;
  };
  if (ktime(true)) {
    if (!syslog) {
      // journalctl -o short-monotonic: "[ 1234.567890] host kernel: ..."
      size_t k = i;
      const size_t h0 = k;
      while (k < t.size() && !JsSpace(t[k])) k++;
      const sv host = t.substr(h0, k - h0);
      if (k > h0 && t.compare(k, 7, " kernel") == 0) {
        k += 7;
        bool ok = true;
        if (k < t.size() && t[k] == '[') {
          size_t d = k + 1;
          while (d < t.size() && Digit(t[d])) d++;
          ok = d > k + 1 && d < t.size() && t[d] == ']';
          k = d + 1;
        }
        if (ok && t.compare(k, 2, ": ") == 0) {
          env.host = host;
          i = k + 2;
          ktime(false);
        }
      }
    }
  } else {
    // dmesg -T: "[Thu Jun 13 19:58:21 2024] "
    size_t k = i;
    uint32_t day = 0, h = 0, m = 0, s = 0, year = 0;
    auto word = [&](sv* out) {
      if (k + 3 > t.size() || !(t[k] >= 'A' && t[k] <= 'Z') || !(t[k + 1] >= 'a' && t[k + 1] <= 'z') ||
          !(t[k + 2] >= 'a' && t[k + 2] <= 'z')) {
        return false;
      }
      *out = t.substr(k, 3);
      k += 3;
      return true;
    };
    sv wd, mn;
    if (Lit(t, &k, '[') && word(&wd) && Lit(t, &k, ' ') && word(&mn) && Lit(t, &k, ' ') && (Lit(t, &k, ' '), true) &&
        Digits(t, &k, 1, 2, &day) && Lit(t, &k, ' ') && Digits(t, &k, 2, 2, &h) && Lit(t, &k, ':') &&
        Digits(t, &k, 2, 2, &m) && Lit(t, &k, ':') && Digits(t, &k, 2, 2, &s) && Lit(t, &k, ' ') &&
        Digits(t, &k, 4, 4, &year) && Lit(t, &k, ']')) {
      Lit(t, &k, ' ');
      i = k;
      const int mon = Month(mn);
      if (mon >= 0 && ValidTime(day, h, m, s)) {
        const int64_t secs = clock_.Local(static_cast<int>(year), mon, static_cast<int>(day), static_cast<int>(h),
                                          static_cast<int>(m), static_cast<int>(s));
        if (secs >= 0) {
          env.has_time = true;
          env.time_ns = static_cast<uint64_t>(secs) * 1000000000ull;
        }
      }
    }
  }
  return Message(env, line + i, len - i, batch);
}

namespace {

// A JSON string's value (after its opening quote) into out; *i past the closing quote.
bool JsonString(sv t, size_t* i, std::string* out) {
  size_t k = *i;
  while (k < t.size()) {
    const unsigned char c = t[k++];
    if (c == '"') {
      *i = k;
      return true;
    }
    if (c != '\\') {
      out->push_back(static_cast<char>(c));
      continue;
    }
    if (k >= t.size()) return false;
    const char e = t[k++];
    switch (e) {
      case '"': case '\\': case '/': out->push_back(e); break;
      case 'b': out->push_back('\b'); break;
      case 'f': out->push_back('\f'); break;
      case 'n': out->push_back('\n'); break;
      case 'r': out->push_back('\r'); break;
      case 't': out->push_back('\t'); break;
      case 'u': {
        uint32_t cp = 0;
        if (k + 4 > t.size() || !HexDigits(t.substr(k, 4), &cp)) return false;
        k += 4;
        if (cp >= 0xd800 && cp < 0xdc00 && t.compare(k, 2, "\\u") == 0) {
          uint32_t lo = 0;
          if (k + 6 <= t.size() && HexDigits(t.substr(k + 2, 4), &lo) && lo >= 0xdc00 && lo < 0xe000) {
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            k += 6;
          }
        }
        // As UTF-8, the journal's own encoding.
        if (cp < 0x80) {
          out->push_back(static_cast<char>(cp));
        } else if (cp < 0x800) {
          out->push_back(static_cast<char>(0xc0 | cp >> 6));
          out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
        } else if (cp < 0x10000) {
          out->push_back(static_cast<char>(0xe0 | cp >> 12));
          out->push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3f)));
          out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
        } else {
          out->push_back(static_cast<char>(0xf0 | cp >> 18));
          out->push_back(static_cast<char>(0x80 | (cp >> 12 & 0x3f)));
          out->push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3f)));
          out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
        }
        break;
      }
      default:
        return false;
    }
  }
  return false;
}

void SkipSpace(sv t, size_t* i) {
  while (*i < t.size() && (t[*i] == ' ' || t[*i] == '\t' || t[*i] == '\r' || t[*i] == '\n')) (*i)++;
}

// Skips one JSON value that is not a string (numbers, literals, arrays, objects); a string
// inside an array or object is skipped with its escapes.
bool SkipValue(sv t, size_t* i) {
  int depth = 0;
  while (*i < t.size()) {
    const char c = t[*i];
    if (c == '"') {
      std::string ignored;
      (*i)++;
      if (!JsonString(t, i, &ignored)) return false;
      if (depth == 0) return true;
      continue;
    }
    if (c == '[' || c == '{') depth++;
    else if (c == ']' || c == '}') {
      if (depth == 0) return true;
      depth--;
      (*i)++;
      if (depth == 0) return true;
      continue;
    } else if (depth == 0 && c == ',') {
      return true;
    }
    (*i)++;
  }
  return depth == 0;
}

// A journal MESSAGE that is not UTF-8: an array of byte values.
bool ByteArray(sv t, size_t* i, std::string* out) {
  size_t k = *i + 1;
  for (;;) {
    SkipSpace(t, &k);
    if (k < t.size() && t[k] == ']') break;
    uint32_t b = 0;
    if (!Digits(t, &k, 1, 3, &b) || b > 255) return false;
    out->push_back(static_cast<char>(b));
    SkipSpace(t, &k);
    if (k < t.size() && t[k] == ',') k++;
  }
  *i = k + 1;
  return true;
}

bool U64(const std::string& s, uint64_t* out) {
  if (s.empty() || s.size() > 19) return false;
  uint64_t v = 0;
  for (unsigned char c : s) {
    if (!Digit(c)) return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

}  // namespace

bool LineDecoder::JsonLine(const char* line, size_t len, Batch* batch, bool* malformed) {
  const sv t(line, len);
  size_t i = 0;
  SkipSpace(t, &i);
  *malformed = true;
  if (!Lit(t, &i, '{')) return false;
  std::string message, key, value, realtime, monotonic, priority, facility, host, transport, ident;
  bool has_message = false;
  for (;;) {
    SkipSpace(t, &i);
    if (Lit(t, &i, '}')) break;
    key.clear();
    if (!Lit(t, &i, '"') || !JsonString(t, &i, &key)) return false;
    SkipSpace(t, &i);
    if (!Lit(t, &i, ':')) return false;
    SkipSpace(t, &i);
    std::string* into = key == "MESSAGE" ? &message : key == "__REALTIME_TIMESTAMP" ? &realtime
                      : key == "_SOURCE_MONOTONIC_TIMESTAMP" ? &monotonic : key == "PRIORITY" ? &priority
                      : key == "SYSLOG_FACILITY" ? &facility : key == "_HOSTNAME" ? &host
                      : key == "_TRANSPORT" ? &transport : key == "SYSLOG_IDENTIFIER" ? &ident : nullptr;
    if (into != nullptr) into->clear();
    if (i < t.size() && t[i] == '"') {
      i++;
      value.clear();
      if (!JsonString(t, &i, into != nullptr ? into : &value)) return false;
      if (into == &message) has_message = true;
    } else if (into == &message && i < t.size() && t[i] == '[') {
      if (!ByteArray(t, &i, &message)) return false;
      has_message = true;
    } else if (!SkipValue(t, &i)) {
      return false;
    }
    SkipSpace(t, &i);
    if (Lit(t, &i, ',')) continue;
    if (Lit(t, &i, '}')) break;
    return false;
  }
  *malformed = false;
  if (!has_message) return false;
  Envelope env;
  uint64_t v = 0;
  if (U64(realtime, &v)) env.has_time = true, env.time_ns = v * 1000;
  if (U64(monotonic, &v)) env.has_ktime = true, env.ktime_us = v;
  if (U64(priority, &v) && v < 8) env.level = static_cast<int>(v);
  env.host = host;
  env.kernel = !transport.empty() ? transport == "kernel" : ident.empty() || ident == "kernel";
  scratch_.swap(message);
  const bool added = Message(env, scratch_.data(), scratch_.size(), batch);
  scratch_.swap(message);
  return added;
}

bool LineDecoder::KmsgRecord(const char* rec, size_t len, int64_t offset_ns, Batch* batch, uint64_t* seq, bool* malformed) {
  const sv t(rec, len);
  size_t i = 0;
  uint32_t prio = 0;
  *malformed = true;
  if (!Digits(t, &i, 1, 10, &prio) || !Lit(t, &i, ',')) return false;
  uint64_t s = 0, usec = 0;
  size_t d = i;
  while (i < t.size() && Digit(t[i])) s = s * 10 + (t[i++] - '0');
  if (i == d || !Lit(t, &i, ',')) return false;
  d = i;
  while (i < t.size() && Digit(t[i])) usec = usec * 10 + (t[i++] - '0');
  if (i == d) return false;
  const size_t semi = t.find(';', i);
  if (semi == sv::npos) return false;
  *malformed = false;
  *seq = s;
  size_t end = t.find('\n', semi + 1);
  if (end == sv::npos) end = t.size();
  sv text = t.substr(semi + 1, end - semi - 1);
  // Bytes the kernel escaped (\xNN: control characters, bytes past 0x7e, the backslash).
  if (text.find('\\') != sv::npos) {
    scratch_.clear();
    for (size_t k = 0; k < text.size(); k++) {
      // (\x00 stays as it is: strings cross into JS NUL-separated.)
      if (text[k] == '\\' && k + 3 < text.size() && text[k + 1] == 'x' && HexVal(text[k + 2]) >= 0 && HexVal(text[k + 3]) >= 0 &&
          (HexVal(text[k + 2]) | HexVal(text[k + 3])) != 0) {
        scratch_.push_back(static_cast<char>(HexVal(text[k + 2]) << 4 | HexVal(text[k + 3])));
        k += 3;
      } else {
        scratch_.push_back(text[k]);
      }
    }
    text = scratch_;
  }
  Envelope env;
  env.has_seq = true;
  env.seq = s;
  env.level = static_cast<int>(prio & 7);
  env.facility = static_cast<int>(prio >> 3);
  env.kernel = env.facility == 0;
  env.has_ktime = true;
  env.ktime_us = usec;
  const int64_t wall = offset_ns + static_cast<int64_t>(usec) * 1000;
  if (wall > 0) {
    env.has_time = true;
    env.time_ns = static_cast<uint64_t>(wall);
  }
  return Message(env, text.data(), text.size(), batch);
}

}  // namespace klog
}  // namespace nfct
