// Inputs other than a netlink socket that a Reader's thread drains into batches: /dev/kmsg, a
// file (followed as `tail -F` does), a pipe. The source is also the job's decoder: it reads
// and decodes in one step, a batch at a time, and the reader does the rest as for a socket
// (flow control, batches to JS, the final batch, Stop()).
#pragma once

#include <cstdint>

#include "reader.h"

namespace nfct {

class Source : public Decoder {
 public:
  enum class Step {
    kMore,  // the batch is full: call again
    kDry,   // nothing to read now: wait for PollFd() or DryWaitMs()
    kEnd,   // the input ended
    kFail,  // failed (the Failure says why)
  };

  void OnMessage(const nlmsghdr* /*nlh*/, Batch* /*batch*/) override {}
  Source* AsSource() override { return this; }

  // Opens the input, on the reader thread.
  virtual bool Open(Failure* f) = 0;
  // Reads and decodes until the batch holds `max` records, or the input is dry or ends.
  virtual Step Read(Batch* batch, uint32_t max, Failure* f) = 0;
  // What to wait on while dry: a descriptor (-1: none) and a timeout in ms (-1: none).
  virtual int PollFd() const = 0;
  virtual int DryWaitMs() const { return -1; }
  // After a wait ended (input, or the timeout).
  virtual void Woken() {}
  virtual void Close() {}
};

}  // namespace nfct
