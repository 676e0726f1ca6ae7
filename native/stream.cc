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
  Napi::Function ctor = DefineClass(env, "Stream",
                                    {InstanceMethod<&Stream::Release>("release"),
                                     InstanceMethod<&Stream::Close>("close")});
  GetData(env)->stream_ctor = Napi::Persistent(ctor);
  exports.Set("Stream", ctor);
}

Napi::Object Stream::Start(Napi::Env env, Napi::Function on_batch,
                           std::unique_ptr<Decoder> decoder, ReaderOptions options,
                           uint32_t record_words) {
  Pending pending{on_batch, std::move(decoder), std::move(options), record_words};
  return GetData(env)->stream_ctor.New({Napi::External<Pending>::New(env, &pending)});
}

Stream::Stream(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Stream>(info) {
  if (info.Length() != 1 || !info[0].IsExternal()) {
    Napi::TypeError::New(info.Env(), "Stream cannot be constructed from JS")
        .ThrowAsJavaScriptException();
    return;
  }
  Pending* p = info[0].As<Napi::External<Pending>>().Data();
  reader_ = std::make_unique<Reader>(info.Env(), p->on_batch, std::move(p->decoder),
                                     std::move(p->options), p->record_words);
}

// release(n): a batch of n records was consumed
Napi::Value Stream::Release(const Napi::CallbackInfo& info) {
  const int n = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 1;
  if (reader_) reader_->Release(n);
  return info.Env().Undefined();
}

Napi::Value Stream::Close(const Napi::CallbackInfo& info) {
  if (reader_) reader_->Stop();
  return info.Env().Undefined();
}

void ReadReaderOptions(const Napi::Value& v, ReaderOptions* out) {
  if (!v.IsObject()) return;
  Napi::Object o = v.As<Napi::Object>();
  auto num = [&](const char* key, auto* field) {
    Napi::Value x = o.Get(key);
    if (x.IsNumber()) *field = static_cast<std::remove_pointer_t<decltype(field)>>(
                          x.As<Napi::Number>().Int64Value());
  };
  num("maxBatch", &out->max_batch);
  num("credits", &out->credits);
  num("rcvbuf", &out->rcvbuf);
  num("rcvbufMax", &out->rcvbuf_max);
}

}  // namespace nfct
