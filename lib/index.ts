export { Conntrack, FlowStream } from './conntrack.js';
export type { CpuStats, CreateManyOptions, CreateManyResult, ListOptions, OpenOptions } from './conntrack.js';
export type { FlowChanges, FlowInput, NatInput, ReplyInput } from './flowspec.js';
export { NfctError, ClosedError } from './errors.js';
export { EventStream } from './events.js';
export type { ConntrackEvent, EventOptions, EventType, ExpectationEvent, FlowEvent, OverrunEvent, ResyncEvent } from './events.js';
export { Expectations } from './expect.js';
export { Nflog, PacketStream, decodePackets } from './nflog.js';
export type { HookName, LogInterface, NflogEvent, NflogGap, NflogOverrun, NflogPacket, NflogPacketEvent, SubscribeOptions } from './nflog.js';
export type { Expectation, ExpectationFilter, ExpectationFlag, ExpectationInput } from './expect.js';
export { RecordStream } from './stream.js';
export type { FlowFilter } from './filter.js';
export { jsonSafe } from './flow.js';
export type { NetnsOption } from './netns.js';
export type { ReaderStats } from './reader.js';
export { Status, STATUS_NAMES } from './status.js';
export type { TupleInput } from './tuple.js';
export { PROTOCOLS, TCP_STATES } from './constants.js';
export type * from './types.js';
export { Trace, parseTraceLine, parseTracePrefix } from './trace.js';
export type { TraceEvent, TraceKind, TraceMatch, TraceOpenOptions, TracePacket, TraceStreamOptions } from './trace.js';
export { decodePacket } from './decode/packet.js';
export type { DecodedPacket, Icmpv6Header, IcmpHeader, Ipv4Header, Ipv6Header, TcpHeader, UdpHeader } from './decode/packet.js';
export { parseLogLine } from './decode/logline.js';
export type { ParsedLogLine } from './decode/logline.js';
export { formatLogLine } from './format/logline.js';
export type { LogLineOptions } from './format/logline.js';
export {
  CONNTRACK_BANNER,
  formatCount,
  formatCpuStats,
  formatEvent,
  formatExpectation,
  formatExpectationEvent,
  formatFlow,
  formatFlushMessage,
  formatSave,
  formatSummary,
  formatXml,
  formatXmlDocument,
} from './format/conntrack.js';
export type { EventFormatOptions, ExpectationFormatOptions, FlowFormatOptions, SaveFormatOptions, UserspaceOrigin, XmlFormatOptions } from './format/conntrack.js';
