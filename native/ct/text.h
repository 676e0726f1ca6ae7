// Flows as `conntrack -L` prints them, formatted on the reader thread: for commands and
// callers that want the text, not objects (a dump of a million entries then makes no object
// per entry in JS).
//
// The text is the one lib/conntrack/text.ts formatFlow() makes from the Flow object of the same
// record, byte for byte (test/conntrack/text-native.test.ts holds the two equal over every
// protocol, state and optional field); see that file for conntrack's quirks kept here.
#pragma once

#include <napi.h>

#include <cstdint>
#include <vector>

#include "ct/flow.h"

namespace nfct {
namespace ct {

// The -o flags a line can have here (labels, ktimestamp, xml and save stay in lib/).
struct TextOptions {
  bool extended = false;  // -o extended: the layer-3 name and number first
  bool id = false;        // -o id: id= at the end
};

// Reads {extended?, id?} from JS; false with a JS TypeError when it is not an object.
bool ParseTextOptions(const Napi::Value& v, TextOptions* out);

// Appends the flow's line and its newline. `now_s`: seconds since the epoch, for delta-time=
// of an entry that has not ended.
void AppendFlowLine(const Flow& flow, const TextOptions& o, int64_t now_s, std::vector<uint8_t>* out);

}  // namespace ct
}  // namespace nfct
