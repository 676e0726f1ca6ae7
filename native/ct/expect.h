// The expectation codec: ctnetlink expectation messages (IPCTNL_MSG_EXP_*) decoded into
// fixed-layout records (read by lib/conntrack/expect.ts) and built from the plain values lib/ hands over.
#pragma once

#include "layout/layouts.h"

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

struct Expect {
  uint32_t w[EXPECT_WORDS];
  uint8_t addr[4][2][16];  // master, tuple, mask, nat
  std::string helper;
  std::string fn;
};

bool DecodeExpectMessage(const nlmsghdr* nlh, Expect* out);

// Decodes dumped expectations or expectation events into records; events are stamped with
// the time they were received (EXPECT_TIME).
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
