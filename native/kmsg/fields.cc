#include "kmsg/fields.h"

#include <arpa/inet.h>

namespace nfct {
namespace klog {

namespace {

// The protocol numbers of PROTO= names.
bool ProtoNumber(sv name, uint32_t* n) {
  switch (Code(name)) {
    case Code("TCP"): *n = 6; return true;
    case Code("UDP"): *n = 17; return true;
    case Code("UDPLITE"): *n = 136; return true;
    case Code("ICMP"): *n = 1; return true;
    case Code("ICMPv6"): *n = 58; return true;
    case Code("AH"): *n = 51; return true;
    case Code("ESP"): *n = 50; return true;
    default: return false;
  }
}

// The LOG target's TCP flags, each a bit of KLOG_TCPFLAGS (0: not a flag).
uint32_t TcpFlag(uint64_t word) {
  switch (word) {
    case Code("AE"): return 256;
    case Code("CWR"): return 128;
    case Code("ECE"): return 64;
    case Code("URG"): return 32;
    case Code("ACK"): return 16;
    case Code("PSH"): return 8;
    case Code("RST"): return 4;
    case Code("SYN"): return 2;
    case Code("FIN"): return 1;
    default: return 0;
  }
}

bool Num(sv v, Level* l, uint32_t word, uint32_t* present, uint32_t bit, bool (*parse)(sv, uint32_t*)) {
  if (!parse(v, &l->w[word])) return false;
  *present |= bit;
  return true;
}

// A KEY=number the record carries as it is: its word, its presence bit (in KLOG_PRESENT, or
// with `second` in KLOG_PRESENT2) and how its digits are read.
struct NumberKey {
  uint64_t key;
  uint32_t word;
  bool second;
  uint32_t bit;
  bool (*parse)(sv, uint32_t*);
};

// Of the line itself (outside a quoted packet), of an IP header, of a TCP header.
constexpr NumberKey kLineNumbers[] = {{Code("MACPROTO"), KLOG_MACPROTO, false, KLOG_HAS_MACPROTO, HexDigits},
                                      {Code("VPROTO"), KLOG_VPROTO, false, KLOG_HAS_VPROTO, HexDigits},
                                      {Code("VID"), KLOG_VID, false, KLOG_HAS_VID, Dec},
                                      {Code("UID"), KLOG_UID, false, KLOG_HAS_UID, Dec},
                                      {Code("GID"), KLOG_GID, false, KLOG_HAS_GID, Dec},
                                      {Code("MARK"), KLOG_MARK, false, KLOG_HAS_MARK, Hex0x}};
constexpr NumberKey kIpNumbers[] = {{Code("TOS"), KLOG_TOS, false, KLOG_HAS_TOS, Hex0x},
                                    {Code("PREC"), KLOG_PREC, false, KLOG_HAS_PREC, Hex0x},
                                    {Code("TTL"), KLOG_TTL, false, KLOG_HAS_TTL, Dec},
                                    {Code("TC"), KLOG_TC, false, KLOG_HAS_TC, Dec},
                                    {Code("HOPLIMIT"), KLOG_HOPLIMIT, false, KLOG_HAS_HOPLIMIT, Dec},
                                    {Code("FLOWLBL"), KLOG_FLOWLBL, false, KLOG_HAS_FLOWLBL, Dec}};
constexpr NumberKey kTcpNumbers[] = {{Code("SEQ"), KLOG_TCPSEQ, true, KLOG_HAS2_TCPSEQ, Dec},
                                     {Code("ACK"), KLOG_TCPACK, true, KLOG_HAS2_TCPACK, Dec},
                                     {Code("WINDOW"), KLOG_WINDOW, true, KLOG_HAS2_WINDOW, Dec},
                                     {Code("RES"), KLOG_RES, true, KLOG_HAS2_RES, Hex0x},
                                     {Code("URGP"), KLOG_URGP, true, KLOG_HAS2_URGP, Dec}};

// The key among `keys`: *found, and whether its value was read into the record.
template <size_t N>
bool NumberOf(const NumberKey (&keys)[N], Level* l, uint64_t key, sv value, bool* found) {
  for (const NumberKey& k : keys) {
    if (k.key != key) continue;
    *found = true;
    return Num(value, l, k.word, k.second ? &l->q : &l->p, k.bit, k.parse);
  }
  *found = false;
  return false;
}

// The keys only the line itself has (lib/nflog/logline-parse.ts reads them outside a quote).
bool LineField(Fields* f, uint64_t key, sv value, bool* handled) {
  Level* l = &f->top;
  uint32_t& p = l->p;
  *handled = true;
  switch (key) {
    case Code("PHYSIN"): return f->physin = value, p |= KLOG_HAS_PHYSIN, true;
    case Code("PHYSOUT"): return f->physout = value, p |= KLOG_HAS_PHYSOUT, true;
    case Code("MAC"):
      // Colon-separated pairs of hex digits, or nothing.
      for (size_t i = 0; i < value.size(); i += 3) {
        if (i + 2 > value.size() || HexVal(value[i]) < 0 || HexVal(value[i + 1]) < 0) return false;
        if (i + 2 < value.size() && value[i + 2] != ':') return false;
        if (i + 2 == value.size() - 1) return false;  // a trailing colon
      }
      f->mac = value;
      p |= KLOG_HAS_MAC;
      return true;
    case Code("MACSRC"): return f->macsrc = value, p |= KLOG_HAS_MACSRC, true;
    case Code("MACDST"): return f->macdst = value, p |= KLOG_HAS_MACDST, true;
    default: return NumberOf(kLineNumbers, l, key, value, handled);
  }
}

// One KEY=VALUE of a packet; false when the record cannot carry it.
bool Field(Level* l, uint64_t key, sv value) {
  uint32_t& p = l->p;
  uint32_t& q = l->q;
  switch (key) {
    case Code("SRC"): return !l->l4 && (l->src = value, p |= KLOG_HAS_SRC, true);
    case Code("DST"): return !l->l4 && (l->dst = value, p |= KLOG_HAS_DST, true);
    case Code("LEN"):
      return l->l4 ? Num(value, l, KLOG_UDPLEN, &q, KLOG_HAS2_UDPLEN, Dec)
                   : Num(value, l, KLOG_LEN, &p, KLOG_HAS_LEN, Dec);
    case Code("ID"):
      if (!l->l4) return Num(value, l, KLOG_IPID, &p, KLOG_HAS_ID, Dec);
      return l->icmp && Num(value, l, KLOG_ICMPID, &q, KLOG_HAS2_ICMPID, Dec);
    case Code("PROTO"):
      if (l->l4) return false;  // a second one: left to the parser
      l->l4 = true;
      l->proto = value;
      p |= KLOG_HAS_PROTO;
      if (ProtoNumber(value, &l->w[KLOG_PROTO]) || Dec(value, &l->w[KLOG_PROTO])) q |= KLOG_HAS2_PROTONUM;
      if (value == "TCP") {
        l->tcp = true;
        q |= KLOG_HAS2_TCP;
      }
      return true;
    default: {
      bool found = false;
      const bool read = NumberOf(kIpNumbers, l, key, value, &found);
      if (found) return read;
      break;
    }
  }
  if (!l->l4) return false;
  if (key == Code("SPT")) return Num(value, l, KLOG_SPT, &q, KLOG_HAS2_SPT, Dec);
  if (key == Code("DPT")) return Num(value, l, KLOG_DPT, &q, KLOG_HAS2_DPT, Dec);
  if (l->tcp) {
    bool found = false;
    return NumberOf(kTcpNumbers, l, key, value, &found);
  }
  if (key == Code("TYPE") || key == Code("CODE")) {
    const bool type = key == Code("TYPE");
    if (!Num(value, l, type ? KLOG_ICMPTYPE : KLOG_ICMPCODE, &q, type ? KLOG_HAS2_ICMPTYPE : KLOG_HAS2_ICMPCODE, Dec))
      return false;
    l->icmp = true;
    q |= KLOG_HAS2_ICMP;
    return true;
  }
  if (!l->icmp) return false;
  if (key == Code("SEQ")) return Num(value, l, KLOG_ICMPSEQ, &q, KLOG_HAS2_ICMPSEQ, Dec);
  if (key == Code("MTU")) return Num(value, l, KLOG_ICMPMTU, &q, KLOG_HAS2_ICMPMTU, Dec);
  return false;
}

// The words of `rest` one at a time, separated by spaces.
struct Words {
  sv rest;
  size_t i = 0;
  bool Next(sv* word) {
    const char* t = rest.data();
    const size_t n = rest.size();
    while (i < n && t[i] == ' ') i++;
    if (i >= n) return false;
    const size_t start = i;
    i = SpaceFrom(t, i, n);
    *word = sv(t + start, i - start);
    return true;
  }
  // Bytes that may be read from a word's start.
  size_t Readable(sv word) const { return static_cast<size_t>(rest.data() + rest.size() - word.data()); }
};

// The words after `IN= OUT=`, read as lib/nflog/logline-parse.ts's Walker does: the line's
// packet, and inside `[` `]` the one an ICMP error quotes.
}  // namespace

void Walk(sv rest, Fields* f) {
  Words words{rest};
  bool nested = false;
  Level* l = &f->top;
  sv tok;
  while (!f->complex && words.Next(&tok)) {
    if (nested && tok == "]") {
      nested = false;
      l = &f->top;
      continue;
    }
    if (!nested && !f->has_inner && StartsWith(tok, "[SRC=")) {
      f->has_inner = nested = true;
      f->inner.Clear();
      l = &f->inner;
      tok.remove_prefix(1);
    } else if (tok[0] == '[' || (tok.size() > 1 && tok.back() == ']')) {
      f->complex = true;
      break;
    }
    uint64_t key = 0;
    const size_t eq = KeyOf(tok, words.Readable(tok), &key);
    if (eq != sv::npos && eq != 0) {
      // KEY=VALUE, by far the most words.
      const sv value = tok.substr(eq + 1);
      bool handled = false;
      if (!nested && LineField(f, key, value, &handled)) continue;
      if (handled || !Field(l, key, value)) f->complex = true;
      continue;
    }
    const uint64_t word = Code(tok);
    if (tok == "INCOMPLETE") {
      // `INCOMPLETE [n bytes]`: the header did not fit in what the packet held.
      sv a, b;
      const size_t save = words.i;
      if (words.Next(&a) && words.Next(&b) && b == "bytes]" && a.size() > 1 && a[0] == '[' &&
          Dec(a.substr(1), &l->w[KLOG_INCOMPLETE])) {
        l->q |= KLOG_HAS2_INCOMPLETE;
        continue;
      }
      words.i = save;
      f->complex = true;
      break;
    }
    if (word == Code("OPT")) {
      sv body;
      const size_t save = words.i;
      if (words.Next(&body) && body.size() >= 2 && body.front() == '(' && body.back() == ')' &&
          body.find_first_of("\r\n") == sv::npos) {
        body = body.substr(1, body.size() - 2);
        if (body == "TRUNCATED") f->complex = true;
        else if (l->tcp) l->tcpopt = body, l->q |= KLOG_HAS2_TCPOPT;
        else l->ipopt = body, l->p |= KLOG_HAS_IPOPT;
        continue;
      }
      words.i = save;
      f->complex = true;
      break;
    }
    if (!l->l4 && (word == Code("CE") || word == Code("DF") || word == Code("MF"))) {
      const uint32_t bit = word == Code("CE") ? 1 : word == Code("DF") ? 2 : 4;
      if (bit <= l->ip_flags_last) f->complex = true;  // out of the kernel's order: left to the parser
      l->w[KLOG_IPFLAGS] |= bit;
      l->ip_flags_last = bit;
      continue;
    }
    if (l->tcp) {
      const uint32_t bit = TcpFlag(word);
      if (bit != 0) {
        // Highest bit first, each once.
        if (l->tcp_flags_last != 0 && bit >= l->tcp_flags_last) f->complex = true;
        l->w[KLOG_TCPFLAGS] |= bit;
        l->tcp_flags_last = bit;
        continue;
      }
    }
    if (StartsWith(tok, "FRAG:")) {
      if (!Dec(tok.substr(5), &l->w[KLOG_FRAG])) f->complex = true;
      l->p |= KLOG_HAS_FRAG;
      continue;
    }
    f->complex = true;  // a word that is neither KEY=VALUE nor a flag
    break;
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
  Words words{rest, src};
  sv tok;
  while (words.Next(&tok)) {
    uint64_t key = 0;
    if (KeyOf(tok, words.Readable(tok), &key) != sv::npos) {
      switch (key) {
        case Code("TTL"):
        case Code("HOPLIMIT"):
        case Code("MARK"):
        case Code("TOS"):
        case Code("PREC"):
        case Code("TC"):
        case Code("UID"):
        case Code("GID"): continue;
        default: break;
      }
    }
    for (unsigned char c : tok) h = (h ^ c) * 0x01000193u;
    h = (h ^ ' ') * 0x01000193u;
  }
  return h;
}

namespace {

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
}  // namespace

bool Matches(const Filter& f, const Level& x) {
  if (f.family != 0) {
    if (!(x.p & KLOG_HAS_SRC)) return false;
    if ((x.src.find(':') != sv::npos ? 6 : 4) != f.family) return false;
  }
  if (f.protocol >= 0 && (!(x.q & KLOG_HAS2_PROTONUM) || x.w[KLOG_PROTO] != f.protocol)) return false;
  if (f.src.set && (!(x.p & KLOG_HAS_SRC) || !AddrIn(f.src, x.src))) return false;
  if (f.dst.set && (!(x.p & KLOG_HAS_DST) || !AddrIn(f.dst, x.dst))) return false;
  const bool spt = x.q & KLOG_HAS2_SPT, dpt = x.q & KLOG_HAS2_DPT;
  if (f.sport >= 0 && (!spt || x.w[KLOG_SPT] != static_cast<uint32_t>(f.sport))) return false;
  if (f.dport >= 0 && (!dpt || x.w[KLOG_DPT] != static_cast<uint32_t>(f.dport))) return false;
  if (f.port >= 0 && !((spt && x.w[KLOG_SPT] == static_cast<uint32_t>(f.port)) ||
                       (dpt && x.w[KLOG_DPT] == static_cast<uint32_t>(f.port)))) {
    return false;
  }
  return true;
}

}  // namespace klog
}  // namespace nfct
