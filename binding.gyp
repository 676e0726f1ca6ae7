{
  "variables": {
    "netfilter_bundle%": "<!(node -p \"process.env.NFCT_NETFILTER_BUNDLE || ''\")"
  },
  "targets": [
    {
      "target_name": "nfct",
      "sources": [
        "native/addon.cc",
        "native/async_op.cc",
        "native/errors.cc",
        "native/netns.cc",
        "native/nl.cc",
        "native/reader.cc",
        "native/reader_dump.cc",
        "native/stream.cc",
        "native/source.cc",
        "native/ct/request.cc",
        "native/ct/control.cc",
        "native/ct/flow.cc",
        "native/ct/filter.cc",
        "native/ct/conntrack.cc",
        "native/ct/mutate.cc",
        "native/ct/save.cc",
        "native/ct/text.cc",
        "native/ct/service_table.cc",
        "native/ct/aggregate.cc",
        "native/ct/expect.cc",
        "native/ct/expect_ops.cc",
        "native/ct/events.cc",
        "native/log/nflog.cc",
        "native/trace/nftrace.cc",
        "native/kmsg/line.cc",
        "native/kmsg/fields.cc",
        "native/kmsg/heads.cc",
        "native/kmsg/journal.cc",
        "native/kmsg/sources.cc",
        "native/trace/ruleset.cc",
        "native/nflog_backend.cc",
        "native/ns_files.cc",
        "native/owner_lock.cc",
        "native/fuzz.cc",
        "native/layout/export.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_DISABLE_CPP_EXCEPTIONS",
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED"
      ],
      "cflags": ["-Wall", "-Wextra", "-fvisibility=hidden"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-fno-exceptions", "-fvisibility=hidden"],
      "cflags_cc!": ["-fno-rtti"],
      "ldflags": ["-pthread"],
      "conditions": [
        ["OS!='linux'", { "type": "none" }],
        ["netfilter_bundle==''", {
          "libraries": [
            "<!@(pkg-config --libs libnetfilter_conntrack libnetfilter_log libmnl)"
          ],
          "cflags+": [
            "<!@(pkg-config --cflags libnetfilter_conntrack libnetfilter_log libmnl)"
          ]
        }, {
          "include_dirs": ["<(netfilter_bundle)/include", "<(netfilter_bundle)/include-arch"],
          "libraries": [
            "-L<(netfilter_bundle)/lib",
            "-Wl,-rpath-link,<(netfilter_bundle)/lib",
            "-Wl,--no-as-needed",
            "-lnetfilter_conntrack", "-lnetfilter_log", "-lnfnetlink", "-lmnl"
          ],
          "ldflags": ["-static-libstdc++", "-static-libgcc", "-Wl,--disable-new-dtags", "-Wl,-rpath,'$$ORIGIN'"]
        }]
      ]
    }
  ]
}
