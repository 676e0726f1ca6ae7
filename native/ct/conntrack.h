// The native conntrack handle: a control socket for request/response work (get, count,
// statistics), and one new socket per dump, opened inside the handle's namespace.
#pragma once

#include <napi.h>

#include <functional>
#include <memory>
#include <mutex>

#include "ct/control.h"

namespace nfct {
namespace ct {

// readSave(): the save-file reader (save.cc).
void InitSave(Napi::Env env, Napi::Object exports);

class Conntrack : public Napi::ObjectWrap<Conntrack> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  explicit Conntrack(const Napi::CallbackInfo& info);

 private:
  // openConntrack() resolves the handle; openConntrackNow() opens it on this thread.
  static Napi::Value Open(const Napi::CallbackInfo& info);
  static Napi::Value OpenNow(const Napi::CallbackInfo& info);
  static Napi::Value OpenIn(const Napi::CallbackInfo& info, OpMode mode);
  Napi::Value Dump(const Napi::CallbackInfo& info);
  Napi::Value Get(const Napi::CallbackInfo& info);
  // count() resolves [entries, max]; countNow() returns it, asked on this thread.
  Napi::Value Count(const Napi::CallbackInfo& info);
  Napi::Value CountNow(const Napi::CallbackInfo& info);
  Napi::Value CountIn(Napi::Env env, OpMode mode);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  // Changing the table (mutate.cc).
  Napi::Value Create(const Napi::CallbackInfo& info);
  Napi::Value Delete(const Napi::CallbackInfo& info);
  Napi::Value Flush(const Napi::CallbackInfo& info);
  Napi::Value CreateBatch(const Napi::CallbackInfo& info);
  Napi::Value DeleteBatch(const Napi::CallbackInfo& info);
  Napi::Value DeleteWhere(const Napi::CallbackInfo& info);

  // Grouping and counting the table (aggregate.cc).
  Napi::Value Aggregate(const Napi::CallbackInfo& info);

  // Events (events.cc).
  Napi::Value Events(const Napi::CallbackInfo& info);
  Napi::Value ExpectEvents(const Napi::CallbackInfo& info);

  // The expectation table (expect_ops.cc).
  Napi::Value ExpectDump(const Napi::CallbackInfo& info);
  Napi::Value ExpectGet(const Napi::CallbackInfo& info);
  Napi::Value ExpectCreate(const Napi::CallbackInfo& info);
  Napi::Value ExpectDelete(const Napi::CallbackInfo& info);
  Napi::Value ExpectFlush(const Napi::CallbackInfo& info);

  // A new reader's options on this handle: netfilter netlink, a dump or a stream, in the
  // handle's namespace (a copy of its fd); false with a JS error when the handle was closed.
  bool ReaderOn(Napi::Env env, bool dump, ReaderOptions* opt);

  // What differs between the flow streams: it sets the reader's requests or groups for the
  // parsed filter, and makes the decoder.
  using FlowStreamSetup = std::function<std::unique_ptr<Decoder>(const FlowFilter& filter, ReaderOptions* opt)>;

  // A stream of flow records from the arguments dump() and events() share, (filter, number,
  // onBatch, options): `usage` is the TypeError's text when they are wrong.
  Napi::Value StartFlowStream(const Napi::CallbackInfo& info, const char* usage, bool dump,
                              const FlowStreamSetup& setup);

  std::shared_ptr<ControlSocket> sock_;
};

}  // namespace ct
}  // namespace nfct
