#include "ct/expect.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

#include <cstring>
#include <ctime>

#include "attr.h"

namespace nfct {
namespace ct {

namespace {

using attr::Be32;
using attr::Str;

// The 32-bit attributes that are one value in one word of the record (the zone is 16 bits).
constexpr attr::Scalar kScalars[] = {
    {CTA_EXPECT_ID, 4, EXPECT_ID, EXPECT_HAS_ID},
    {CTA_EXPECT_TIMEOUT, 4, EXPECT_TIMEOUT, EXPECT_HAS_TIMEOUT},
    {CTA_EXPECT_FLAGS, 4, EXPECT_FLAGS, EXPECT_HAS_FLAGS},
    {CTA_EXPECT_CLASS, 4, EXPECT_CLASS, EXPECT_HAS_CLASS},
};

bool DecodeNat(const nlattr* nest, Expect* e) {
  bool ok = true;
  NlForEachNested(nest, [&](const nlattr* a) {
    switch (attr::Type(a)) {
      case CTA_EXPECT_NAT_DIR: attr::Get(a, 4, &e->w[EXPECT_NAT_DIR]); break;
      case CTA_EXPECT_NAT_TUPLE: ok = ok && DecodeTupleInto(a, &e->w[EXPECT_NAT], e->addr[3]); break;
      default: break;
    }
  });
  e->w[EXPECT_PRESENT] |= EXPECT_HAS_NAT;
  return ok;
}

}  // namespace

bool DecodeExpectMessage(const nlmsghdr* nlh, Expect* e) {
  if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(nfgenmsg))) return false;
  memset(e->w, 0, sizeof(e->w));
  memset(e->addr, 0, sizeof(e->addr));
  e->helper.clear();
  e->fn.clear();
  const auto* nfg = static_cast<const nfgenmsg*>(mnl_nlmsg_get_payload(nlh));
  uint32_t& present = e->w[EXPECT_PRESENT];
  bool ok = true;
  NlForEachAttr(nlh, sizeof(nfgenmsg), [&](const nlattr* a) {
    switch (attr::Type(a)) {
      case CTA_EXPECT_MASTER:
        present |= EXPECT_HAS_MASTER;
        ok = ok && DecodeTupleInto(a, &e->w[EXPECT_MASTER], e->addr[0]);
        break;
      case CTA_EXPECT_TUPLE:
        present |= EXPECT_HAS_TUPLE;
        ok = ok && DecodeTupleInto(a, &e->w[EXPECT_TUPLE], e->addr[1]);
        break;
      case CTA_EXPECT_MASK:
        present |= EXPECT_HAS_MASK;
        ok = ok && DecodeTupleInto(a, &e->w[EXPECT_MASK], e->addr[2]);
        break;
      case CTA_EXPECT_NAT: ok = ok && DecodeNat(a, e); break;
      case CTA_EXPECT_ZONE: attr::GetField(a, 2, &e->w[EXPECT_ZONE], &present, EXPECT_HAS_ZONE); break;
      case CTA_EXPECT_HELP_NAME:
        e->helper = Str(a);
        present |= EXPECT_HAS_HELPER;
        break;
      case CTA_EXPECT_FN:
        e->fn = Str(a);
        present |= EXPECT_HAS_FN;
        break;
      default: attr::GetScalar(a, kScalars, e->w, &present); break;
    }
  });
  const uint32_t l4 = e->w[EXPECT_TUPLE + TUPLE_META] & 0xffu;
  e->w[EXPECT_KIND] = nfg->nfgen_family | (l4 << 8) | ((nlh->nlmsg_type & 0xffu) << 16);
  return ok;
}

void ExpectDecoder::OnMessage(const nlmsghdr* nlh, Batch* batch) {
  if (!DecodeExpectMessage(nlh, &e_)) {
    batch->malformed++;
    return;
  }
  if (stamp_) {
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    const uint64_t ns = static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
    e_.w[EXPECT_TIME] = static_cast<uint32_t>(ns);
    e_.w[EXPECT_TIME + 1] = static_cast<uint32_t>(ns >> 32);
  }
  batch->words.insert(batch->words.end(), e_.w, e_.w + EXPECT_WORDS);
  AppendExpectStrings(e_, &batch->strings);
  batch->count++;
}

void AppendExpectStrings(const Expect& e, std::string* out) {
  static const uint32_t kBits[4] = {EXPECT_HAS_MASTER, EXPECT_HAS_TUPLE, EXPECT_HAS_MASK, EXPECT_HAS_NAT};
  static const uint32_t kBase[4] = {EXPECT_MASTER, EXPECT_TUPLE, EXPECT_MASK, EXPECT_NAT};
  const bool v6 = (e.w[EXPECT_KIND] & 0xffu) == AF_INET6;
  for (int t = 0; t < 4; t++) {
    if (e.w[EXPECT_PRESENT] & kBits[t]) AppendTupleStrings(v6, &e.w[kBase[t]], e.addr[t], out);
  }
  if (e.w[EXPECT_PRESENT] & EXPECT_HAS_HELPER) out->append(e.helper).push_back('\0');
  if (e.w[EXPECT_PRESENT] & EXPECT_HAS_FN) out->append(e.fn).push_back('\0');
}

bool ParseExpectSpec(const Napi::Value& v, ExpectSpec* out) {
  *out = ExpectSpec();
  if (!v.IsObject()) {
    Napi::TypeError::New(v.Env(), "native expectation: object expected").ThrowAsJavaScriptException();
    return false;
  }
  Napi::Object o = v.As<Napi::Object>();
  if (!ParseTuple(o.Get("master"), &out->master) || !ParseTuple(o.Get("tuple"), &out->tuple) ||
      !ParseTuple(o.Get("mask"), &out->mask)) {
    return false;
  }
  auto num = [&](const char* key) -> int64_t {
    Napi::Value x = o.Get(key);
    return x.IsNumber() ? x.As<Napi::Number>().Int64Value() : -1;
  };
  out->timeout = num("timeout");
  out->zone = static_cast<int32_t>(num("zone"));
  out->flags = num("flags");
  out->klass = num("class");
  Napi::Value helper = o.Get("helper");
  if (helper.IsString()) out->helper = helper.As<Napi::String>().Utf8Value();
  Napi::Value fn = o.Get("fn");
  if (fn.IsString()) out->fn = fn.As<Napi::String>().Utf8Value();
  Napi::Value nat = o.Get("nat");
  if (nat.IsObject()) {
    Napi::Object n = nat.As<Napi::Object>();
    if (!ParseTuple(n.Get("tuple"), &out->nat)) return false;
    out->nat_dir = n.Get("dir").As<Napi::Number>().Uint32Value();
    out->has_nat = true;
  }
  return true;
}

void PutExpectSpec(nlmsghdr* nlh, const ExpectSpec& e) {
  PutTuple(nlh, CTA_EXPECT_MASTER, e.master);
  PutTuple(nlh, CTA_EXPECT_TUPLE, e.tuple);
  PutTuple(nlh, CTA_EXPECT_MASK, e.mask);
  if (e.timeout >= 0) mnl_attr_put_u32(nlh, CTA_EXPECT_TIMEOUT, htonl(static_cast<uint32_t>(e.timeout)));
  if (e.zone >= 0) mnl_attr_put_u16(nlh, CTA_EXPECT_ZONE, htons(static_cast<uint16_t>(e.zone)));
  if (e.flags >= 0) mnl_attr_put_u32(nlh, CTA_EXPECT_FLAGS, htonl(static_cast<uint32_t>(e.flags)));
  if (e.klass >= 0) mnl_attr_put_u32(nlh, CTA_EXPECT_CLASS, htonl(static_cast<uint32_t>(e.klass)));
  if (!e.helper.empty()) mnl_attr_put_strz(nlh, CTA_EXPECT_HELP_NAME, e.helper.c_str());
  if (!e.fn.empty()) mnl_attr_put_strz(nlh, CTA_EXPECT_FN, e.fn.c_str());
  if (e.has_nat) {
    nlattr* nest = mnl_attr_nest_start(nlh, CTA_EXPECT_NAT);
    mnl_attr_put_u32(nlh, CTA_EXPECT_NAT_DIR, htonl(e.nat_dir));
    PutTuple(nlh, CTA_EXPECT_NAT_TUPLE, e.nat);
    mnl_attr_nest_end(nlh, nest);
  }
}

}  // namespace ct
}  // namespace nfct
