// The expectation codec: ctnetlink expectation messages (IPCTNL_MSG_EXP_*) decoded into
// fixed-layout records (read by lib/conntrack/expect.ts) and built from the plain values lib/ hands over.
#pragma once

#include <napi.h>
#include <linux/netlink.h>

#include <cstdint>
#include <string>

#include "ct/flow.h"
#include "ct/request.h"
#include "nl.h"
#include "reader.h"

namespace nfct {
namespace ct {

enum ExpectPresent : uint32_t {
  E_MASTER = 1u << 0,
  E_TUPLE = 1u << 1,
  E_MASK = 1u << 2,
  E_NAT = 1u << 3,
  E_ID = 1u << 4,
  E_TIMEOUT = 1u << 5,
  E_ZONE = 1u << 6,
  E_FLAGS = 1u << 7,
  E_CLASS = 1u << 8,
  E_HELPER = 1u << 9,
  E_FN = 1u << 10,
};

// Strings follow in order: master src/dst, tuple src/dst, mask src/dst, nat src/dst (each
// tuple only when present), helper, fn.
enum ExpectWord : uint32_t {
  X_PRESENT = 0,
  X_KIND = 1,  // l3 family | l4 protocol << 8 | message type << 16
  X_ID = 2,
  X_TIMEOUT = 3,
  X_ZONE = 4,
  X_FLAGS = 5,
  X_CLASS = 6,
  X_NAT_DIR = 7,
  X_MASTER = 8,  // tuple blocks of TUPLE_WORDS
  X_TUPLE = 12,
  X_MASK = 16,
  X_NAT = 20,
  X_TIME = 24,  // lo/hi: receive time of an event, ns since the epoch
  EXPECT_WORDS = 26,
};

struct Expect {
  uint32_t w[EXPECT_WORDS];
  uint8_t addr[4][2][16];  // master, tuple, mask, nat
  std::string helper;
  std::string fn;
};

bool DecodeExpectMessage(const nlmsghdr* nlh, Expect* out);

// Decodes dumped expectations or expectation events into records; events are stamped with
// the time they were received (X_TIME).
class ExpectDecoder : public Decoder {
 public:
  explicit ExpectDecoder(bool stamp = false) : stamp_(stamp) {}
  void OnMessage(const nlmsghdr* nlh, Batch* batch) override;

 private:
  bool stamp_;
  Expect e_;
};
void AppendExpectStrings(const Expect& e, std::string* out);

// An expectation to create, as lib/conntrack/expect.ts normalises it.
struct ExpectSpec {
  TupleSpec master, tuple, mask;
  int64_t timeout = -1;
  int32_t zone = -1;
  int64_t flags = -1;
  int64_t klass = -1;
  std::string helper;
  std::string fn;
  bool has_nat = false;
  uint32_t nat_dir = 0;
  TupleSpec nat;
};

bool ParseExpectSpec(const Napi::Value& v, ExpectSpec* out);
void PutExpectSpec(nlmsghdr* nlh, const ExpectSpec& e);

}  // namespace ct
}  // namespace nfct
