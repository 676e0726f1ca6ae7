export { AGGREGATE_KEYS } from './conntrack/aggregate.js';
export type { AddressPrefix, AggregateGroup, AggregateKey, AggregateKeyValues, AggregateOptions, AggregateResult,
  AggregateSort, LegacyAggregateKey, LegacyAggregateOptions, PrefixKey } from './conntrack/aggregate.js';
export type { BulkOptions, DeleteEachOptions, DeleteWhereOptions, FlowUpdate,
  UpdateWhereOptions } from './conntrack/bulk.js';
export { TCP_STATES } from './conntrack/constants.js';
export type { CreateManyOptions, CreateManyResult, CreateManyStop, RestoreOptions,
  RestoreResult } from './conntrack/create-many.js';
export { EventCounter, EventStream } from './conntrack/events.js';
export type { ConntrackEvent, CountEventOptions, EventOptions, EventType, ExpectationEvent, ExpectationEventType,
  FlowEvent, FlowEventType, OverrunEvent, ResyncEvent } from './conntrack/events.js';
export { Expectations } from './conntrack/expect.js';
export type { Expectation, ExpectationCpuStats, ExpectationFilter, ExpectationFlag, ExpectationFlushOptions,
  ExpectationInput } from './conntrack/expect.js';
export type { FlowFilter } from './conntrack/filter.js';
export { flowJson, jsonSafe } from './conntrack/flow.js';
export type { FlowChanges, FlowInput, NatInput, ReplyInput } from './conntrack/flowspec.js';
export { Conntrack, FlowStream } from './conntrack/handle.js';
export type { DeleteById, FlushOptions, ListOptions, ListTextOptions, OpenOptions } from './conntrack/handle.js';
export { flowKey } from './conntrack/key.js';
export type { LineFormat } from './conntrack/line-format.js';
export { parseSave, parseSaveLine } from './conntrack/save.js';
export { Status, STATUS_NAMES } from './conntrack/status.js';
export { CONNTRACK_BANNER, expectationTimePrefix, formatCount, formatCpuStats, formatEvent, formatExpectation,
  formatExpectationCpuStats, formatExpectationEvent, formatExpectationXml, formatFlow, formatFlushMessage, formatSave,
  formatSummary, formatXml, formatXmlDocument } from './conntrack/text.js';
export type { EventFormatOptions, ExpectationEventFormatOptions, ExpectationFormatOptions, ExpectationXmlOptions,
  FlowFormatOptions, SaveFormatOptions, SummaryCommand, UserspaceOrigin, XmlFormatOptions } from './conntrack/text.js';
export type { TupleInput } from './conntrack/tuple.js';
export type * from './conntrack/types.js';
export { TableWatch } from './conntrack/watch.js';
export type { WatchChange, WatchItem, WatchOptions, WatchSnapshot } from './conntrack/watch.js';
export { DEFAULT_CONCURRENCY, mapSettled } from './core/concurrency.js';
export type { Settled } from './core/concurrency.js';
export { ClosedError, NfctError } from './core/errors.js';
export { NativeLoadError } from './core/load-error.js';
export { listNamespaces, namespaceLabel, ownNamespaceLabel, parseCgroup } from './core/netns-discovery.js';
export type { ListNamespacesOptions, NamespaceProcess, NetworkNamespace } from './core/netns-discovery.js';
export type { NetnsOption } from './core/netns.js';
export { readPodLogDirs } from './core/pods.js';
export type { PodIdentity } from './core/pods.js';
export { PROTOCOLS } from './core/protocols.js';
export type { RawBatch, ReaderStats } from './core/reader.js';
export { RecordStream } from './core/stream.js';
export type { LiveStreamOptions } from './core/stream.js';
export type { StreamStats } from './core/stream.js';
export { CPU_STAT_COUNTERS, createExporter } from './exporter/exporter.js';
export type { Exporter, ExporterOptions } from './exporter/exporter.js';
export type { FlowExportOptions } from './exporter/flows.js';
export { DEFAULT_EXPORTER_PORT, serveExporter } from './exporter/server.js';
export type { ServeOptions } from './exporter/server.js';
export type { CollectorSpec, CollectorStats, Transport } from './flows/collector.js';
export { IpfixExporter } from './flows/exporter.js';
export type { IpfixExporterOptions, IpfixExporterStats } from './flows/exporter.js';
export { flowRecordJson, formatFlowRecord } from './flows/record.js';
export type { Endpoints, FlowEndReason, FlowNamespace, FlowRecord, FlowTimeSource } from './flows/record.js';
export { FLOW_SYSCTLS } from './flows/settings.js';
export type { FlowSysctl } from './flows/settings.js';
export { FlowRecordStream } from './flows/stream.js';
export type { FlowItem, FlowOverrun, FlowsOptions } from './flows/stream.js';
export { findPodNamespace } from './k8s/node.js';
export type { FindPodOptions } from './k8s/node.js';
export type { L4, RulesetKind } from './k8s/rules.js';
export { parseServices, readServices, Services } from './k8s/services.js';
export type { Endpoint, KubernetesServiceName, ReadServicesOptions, RulesetTexts, SaveText,
  ServicePort } from './k8s/services.js';
export { findStaleEntries, findUnanswered, serviceOfFlow, staleDeleteArgs } from './k8s/stale.js';
export type { FlowService, StaleGroup, UnansweredGroup } from './k8s/stale.js';
export { KernelLog, KernelLogStream } from './kmsg/handle.js';
export type { KernelLogFileOptions, KernelLogFilter, KernelLogItem, KernelLogLine, KernelLogLoss, KernelLogOptions,
  KernelLogPacket, KernelLogSource, KmsgOptions } from './kmsg/handle.js';
export { decodePackets, Nflog, PacketStream } from './nflog/handle.js';
export type { HookName, LogInterface, NflogEvent, NflogGap, NflogOpenOptions, NflogOverrun, NflogPacket,
  NflogPacketEvent, SubscribeOptions } from './nflog/handle.js';
export { formatLogLine } from './nflog/logline-format.js';
export type { LogLineOptions } from './nflog/logline-format.js';
export { parseLogLine } from './nflog/logline-parse.js';
export type { ParsedLogArp, ParsedLogIcmp, ParsedLogLine, ParsedLogPacket, ParsedLogTcp,
  SyslogHeader } from './nflog/logline-types.js';
export { decodePacket } from './packet/decode.js';
export type { AhHeader, DecodedPacket, DecodedPacketBase, EspHeader, FragmentInfo, GreHeader, IcmpHeader, Icmpv6Header,
  Ipv4Flags, Ipv4Header, Ipv4Packet, Ipv6AhExtension, Ipv6EspExtension, Ipv6Extension, Ipv6FragmentExtension,
  Ipv6Header, Ipv6OptionsExtension, Ipv6Packet, Ipv6RoutingExtension, LayerName, NoTransportReason, PacketFamily,
  SctpHeader, TcpFlagName, TcpHeader, UdpHeader, UdpLiteHeader } from './packet/types.js';
export { parseTraceLine, parseTracePrefix } from './trace/decode.js';
export { Trace } from './trace/handle.js';
export type { TraceSelectionStats } from './trace/selection.js';
export { TracePacketStream, TraceStream } from './trace/streams.js';
export type { KernelLogTraceEvent, LegacyTraceEvent, NftablesFamily, NftablesTraceEvent, TraceAddressMatch,
  TraceConntrack, TraceEvent, TraceKind, TraceMatch, TraceOpenOptions, TracePacket, TracePacketsOptions, TracePortMatch,
  TraceSource, TraceStreamOptions } from './trace/types.js';
