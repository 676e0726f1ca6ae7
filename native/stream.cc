#include "stream.h"

#include "addon.h"

namespace nfct {

namespace {
// Carries a reader into the constructor without exposing it to JS.
struct Pending {
  Napi::Function on_batch;
  std::unique_ptr<Decoder> decoder;
  ReaderOptions options;
  uint32_t record_words;
};
}  // namespace

void Stream::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor =
      DefineClass(env, "Stream",
                  {InstanceMethod<&Stream::Release>("release"), InstanceMethod<&Stream::Stats>("stats"),
                   InstanceMethod<&Stream::Close>("close"), InstanceMethod<&Stream::EndEarly>("endEarly"),
                   InstanceMethod<&Stream::SetupError>("setupError")});
  GetData(env)->stream_ctor = Napi::Persistent(ctor);
  exports.Set("Stream", ctor);
}

Napi::Object Stream::Start(Napi::Env env, Napi::Function on_batch, std::unique_ptr<Decoder> decoder,
                           ReaderOptions options, uint32_t record_words) {
  Pending pending{on_batch, std::move(decoder), std::move(options), record_words};
  return GetData(env)->stream_ctor.New({Napi::External<Pending>::New(env, &pending)});
}

Stream::Stream(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Stream>(info) {
  if (info.Length() != 1 || !info[0].IsExternal()) {
    Napi::TypeError::New(info.Env(), "Stream cannot be constructed from JS").ThrowAsJavaScriptException();
    return;
  }
  Pending* p = info[0].As<Napi::External<Pending>>().Data();
  reader_ =
      std::make_unique<Reader>(info.Env(), p->on_batch, std::move(p->decoder), std::move(p->options), p->record_words);
}

// release(records, bytes): a batch was consumed
Napi::Value Stream::Release(const Napi::CallbackInfo& info) {
  auto arg = [&](size_t i) -> uint64_t {
    if (info.Length() <= i || !info[i].IsNumber()) return 0;
    const int64_t v = info[i].As<Napi::Number>().Int64Value();
    return v > 0 ? static_cast<uint64_t>(v) : 0;
  };
  if (reader_) reader_->Release(arg(0), arg(1));
  return info.Env().Undefined();
}

// stats(): the StreamStat layout (layout/layouts.h)
Napi::Value Stream::Stats(const Napi::CallbackInfo& info) {
  QueueStats q = reader_ ? reader_->Stats() : QueueStats();
  Napi::Float64Array out = Napi::Float64Array::New(info.Env(), STREAM_STATS);
  if (out.IsEmpty()) return info.Env().Undefined();  // the environment is going away
  out[STAT_QUEUED_RECORDS] = static_cast<double>(q.records);
  out[STAT_QUEUED_BYTES] = static_cast<double>(q.bytes);
  out[STAT_PEAK_RECORDS] = static_cast<double>(q.peak_records);
  out[STAT_PEAK_BYTES] = static_cast<double>(q.peak_bytes);
  out[STAT_POOLED_BYTES] = static_cast<double>(q.pooled_bytes);
  out[STAT_RECEIVED] = static_cast<double>(q.received);
  out[STAT_MALFORMED] = static_cast<double>(q.malformed);
  for (size_t k = 0; k < kCountKinds; k++) out[STAT_COUNTED + k] = static_cast<double>(q.counted[k]);
  out[STAT_SOCKET_BUFFER] = static_cast<double>(q.socket_rcvbuf);
  return out;
}

// setupError(): the NfctError of a socket that could not be opened, bound or subscribed, or
// undefined. Known as soon as the Stream exists, so the call that started it can fail.
Napi::Value Stream::SetupError(const Napi::CallbackInfo& info) {
  if (!reader_) return info.Env().Undefined();
  const Failure f = reader_->SetupFailure();
  return f.failed() ? MakeError(info.Env(), f) : info.Env().Undefined();
}

Napi::Value Stream::Close(const Napi::CallbackInfo& info) {
  if (reader_) reader_->Stop();
  return info.Env().Undefined();
}

// endEarly(): stops reading; what was read and the decoder's final word still come (FINAL).
Napi::Value Stream::EndEarly(const Napi::CallbackInfo& info) {
  if (reader_) reader_->EndEarly();
  return info.Env().Undefined();
}

void ReadReaderOptions(const Napi::Value& v, ReaderOptions* out) {
  if (!v.IsObject()) return;
  Napi::Object o = v.As<Napi::Object>();
  auto num = [&](const char* key, auto* field) {
    Napi::Value x = o.Get(key);
    if (x.IsNumber()) *field = static_cast<std::remove_pointer_t<decltype(field)>>(x.As<Napi::Number>().Int64Value());
  };
  num("maxBatch", &out->max_batch);
  num("maxQueueRecords", &out->max_queue_records);
  num("maxQueueBytes", &out->max_queue_bytes);
  num("rcvbuf", &out->rcvbuf);
  num("rcvbufMax", &out->rcvbuf_max);
  num("countOnly", &out->count_only);
}

}  // namespace nfct
