// The JS handle of a running Reader: release() returns a consumed batch's share of the queue,
// stats() reads the queue, close() ends it, endEarly() ends it with its final batch.
#pragma once

#include <napi.h>

#include <memory>

#include "reader.h"

namespace nfct {

class Stream : public Napi::ObjectWrap<Stream> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  // Starts a reader and wraps it in a new JS Stream object.
  static Napi::Object Start(Napi::Env env, Napi::Function on_batch, std::unique_ptr<Decoder> decoder,
                            ReaderOptions options, uint32_t record_words);

  explicit Stream(const Napi::CallbackInfo& info);

 private:
  Napi::Value Release(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value EndEarly(const Napi::CallbackInfo& info);
  Napi::Value SetupError(const Napi::CallbackInfo& info);

  std::unique_ptr<Reader> reader_;
};

// Reads the reader tuning lib/ passes: { maxBatch, maxQueueRecords, maxQueueBytes, rcvbuf,
// rcvbufMax }.
void ReadReaderOptions(const Napi::Value& v, ReaderOptions* out);

}  // namespace nfct
