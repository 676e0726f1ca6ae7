#include "kmsg/fields.h"

#include <arpa/inet.h>

namespace nfct {
namespace klog {

namespace {

const struct {
  const char* name;
  uint32_t number;
} kProtoNames[] = {{"TCP", 6}, {"UDP", 17}, {"UDPLITE", 136}, {"ICMP", 1}, {"ICMPv6", 58}, {"AH", 51}, {"ESP", 50}};
// The LOG target's order of the TCP flags; each is a bit of KLOG_TCPFLAGS.
const struct {
  const char* name;
  uint32_t bit;
} kTcpFlags[] = {{"AE", 256}, {"CWR", 128}, {"ECE", 64}, {"URG", 32}, {"ACK", 16},
                 {"PSH", 8},  {"RST", 4},   {"SYN", 2},  {"FIN", 1}};

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
  if (key == "PHYSIN") return f->physin = value, p |= KLOG_HAS_PHYSIN, true;
  if (key == "PHYSOUT") return f->physout = value, p |= KLOG_HAS_PHYSOUT, true;
  if (key == "MAC") {
    // Colon-separated pairs of hex digits, or nothing.
    for (size_t i = 0; i < value.size(); i += 3) {
      if (i + 2 > value.size() || HexVal(value[i]) < 0 || HexVal(value[i + 1]) < 0) return false;
      if (i + 2 < value.size() && value[i + 2] != ':') return false;
      if (i + 2 == value.size() - 1) return false;  // a trailing colon
    }
    f->mac = value;
    p |= KLOG_HAS_MAC;
    return true;
  }
  if (key == "MACSRC") return f->macsrc = value, p |= KLOG_HAS_MACSRC, true;
  if (key == "MACDST") return f->macdst = value, p |= KLOG_HAS_MACDST, true;
  if (key == "MACPROTO") return Num(value, l, KLOG_MACPROTO, &p, KLOG_HAS_MACPROTO, HexDigits);
  if (key == "VPROTO") return Num(value, l, KLOG_VPROTO, &p, KLOG_HAS_VPROTO, HexDigits);
  if (key == "VID") return Num(value, l, KLOG_VID, &p, KLOG_HAS_VID, Dec);
  if (key == "UID") return Num(value, l, KLOG_UID, &p, KLOG_HAS_UID, Dec);
  if (key == "GID") return Num(value, l, KLOG_GID, &p, KLOG_HAS_GID, Dec);
  if (key == "MARK") return Num(value, l, KLOG_MARK, &p, KLOG_HAS_MARK, Hex0x);
  *handled = false;
  return false;
}

// One KEY=VALUE of a packet; false when the record cannot carry it.
bool Field(Level* l, sv key, sv value) {
  uint32_t& p = l->p;
  uint32_t& q = l->q;
  if (key == "SRC") return !l->l4 && (l->src = value, p |= KLOG_HAS_SRC, true);
  if (key == "DST") return !l->l4 && (l->dst = value, p |= KLOG_HAS_DST, true);
  if (key == "LEN")
    return l->l4 ? Num(value, l, KLOG_UDPLEN, &q, KLOG_HAS2_UDPLEN, Dec)
                 : Num(value, l, KLOG_LEN, &p, KLOG_HAS_LEN, Dec);
  if (key == "TOS") return Num(value, l, KLOG_TOS, &p, KLOG_HAS_TOS, Hex0x);
  if (key == "PREC") return Num(value, l, KLOG_PREC, &p, KLOG_HAS_PREC, Hex0x);
  if (key == "TTL") return Num(value, l, KLOG_TTL, &p, KLOG_HAS_TTL, Dec);
  if (key == "TC") return Num(value, l, KLOG_TC, &p, KLOG_HAS_TC, Dec);
  if (key == "HOPLIMIT") return Num(value, l, KLOG_HOPLIMIT, &p, KLOG_HAS_HOPLIMIT, Dec);
  if (key == "FLOWLBL") return Num(value, l, KLOG_FLOWLBL, &p, KLOG_HAS_FLOWLBL, Dec);
  if (key == "ID") {
    if (!l->l4) return Num(value, l, KLOG_IPID, &p, KLOG_HAS_ID, Dec);
    return l->icmp && Num(value, l, KLOG_ICMPID, &q, KLOG_HAS2_ICMPID, Dec);
  }
  if (key == "PROTO") {
    if (l->l4) return false;  // a second one: left to the parser
    l->l4 = true;
    l->proto = value;
    p |= KLOG_HAS_PROTO;
    for (const auto& n : kProtoNames) {
      if (value == n.name) {
        l->w[KLOG_PROTO] = n.number;
        q |= KLOG_HAS2_PROTONUM;
      }
    }
    if (!(q & KLOG_HAS2_PROTONUM) && Dec(value, &l->w[KLOG_PROTO])) q |= KLOG_HAS2_PROTONUM;
    if (value == "TCP") {
      l->tcp = true;
      q |= KLOG_HAS2_TCP;
    }
    return true;
  }
  if (!l->l4) return false;
  if (key == "SPT") return Num(value, l, KLOG_SPT, &q, KLOG_HAS2_SPT, Dec);
  if (key == "DPT") return Num(value, l, KLOG_DPT, &q, KLOG_HAS2_DPT, Dec);
  if (l->tcp) {
    if (key == "SEQ") return Num(value, l, KLOG_TCPSEQ, &q, KLOG_HAS2_TCPSEQ, Dec);
    if (key == "ACK") return Num(value, l, KLOG_TCPACK, &q, KLOG_HAS2_TCPACK, Dec);
    if (key == "WINDOW") return Num(value, l, KLOG_WINDOW, &q, KLOG_HAS2_WINDOW, Dec);
    if (key == "RES") return Num(value, l, KLOG_RES, &q, KLOG_HAS2_RES, Hex0x);
    if (key == "URGP") return Num(value, l, KLOG_URGP, &q, KLOG_HAS2_URGP, Dec);
    return false;
  }
  if (key == "TYPE" || key == "CODE") {
    const bool type = key == "TYPE";
    if (!Num(value, l, type ? KLOG_ICMPTYPE : KLOG_ICMPCODE, &q, type ? KLOG_HAS2_ICMPTYPE : KLOG_HAS2_ICMPCODE, Dec))
      return false;
    l->icmp = true;
    q |= KLOG_HAS2_ICMP;
    return true;
  }
  if (!l->icmp) return false;
  if (key == "SEQ") return Num(value, l, KLOG_ICMPSEQ, &q, KLOG_HAS2_ICMPSEQ, Dec);
  if (key == "MTU") return Num(value, l, KLOG_ICMPMTU, &q, KLOG_HAS2_ICMPMTU, Dec);
  return false;
}

// The words after `IN= OUT=`, read as lib/nflog/logline-parse.ts's Walker does: the line's
// packet, and inside `[` `]` the one an ICMP error quotes.
}  // namespace

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
      f->inner.Clear();
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
      if (next(&a) && next(&b) && b == "bytes]" && a.size() > 1 && a[0] == '[' &&
          Dec(a.substr(1), &l->w[KLOG_INCOMPLETE])) {
        l->q |= KLOG_HAS2_INCOMPLETE;
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
        else if (l->tcp) l->tcpopt = body, l->q |= KLOG_HAS2_TCPOPT;
        else l->ipopt = body, l->p |= KLOG_HAS_IPOPT;
        continue;
      }
      i = save;
      f->complex = true;
      break;
    }
    if (!l->l4 && (tok == "CE" || tok == "DF" || tok == "MF")) {
      const uint32_t bit = tok == "CE" ? 1 : tok == "DF" ? 2 : 4;
      if (bit <= l->ip_flags_last) f->complex = true;  // out of the kernel's order: left to the parser
      l->w[KLOG_IPFLAGS] |= bit;
      l->ip_flags_last = bit;
      continue;
    }
    if (l->tcp) {
      uint32_t bit = 0;
      for (const auto& fl : kTcpFlags)
        if (tok == fl.name) bit = fl.bit;
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
