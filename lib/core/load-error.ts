// Why the native addon did not load, said so that a person knows what to install.

/** The runtime packages that provide each shared library the addon may need. */
export const RUNTIME_PACKAGES: Record<string, { debian: string; fedora: string; alpine: string }> = {
  'libnetfilter_conntrack.so.3': { debian: 'libnetfilter-conntrack3', fedora: 'libnetfilter_conntrack',
    alpine: 'libnetfilter_conntrack' },
  'libnetfilter_log.so.1': { debian: 'libnetfilter-log1', fedora: 'libnetfilter_log', alpine: 'libnetfilter_log' },
  'libmnl.so.0': { debian: 'libmnl0', fedora: 'libmnl', alpine: 'libmnl' },
  'libnfnetlink.so.0': { debian: 'libnfnetlink0', fedora: 'libnfnetlink', alpine: 'libnfnetlink' },
  'libstdc++.so.6': { debian: 'libstdc++6', fedora: 'libstdc++', alpine: 'libstdc++' },
};

/** What compiling the addon from source needs, per distribution family. */
export const BUILD_PACKAGES = {
  debian:
    'apt-get install build-essential python3 pkg-config libnetfilter-conntrack-dev libnetfilter-log-dev libmnl-dev',
  fedora:
    'dnf install gcc-c++ make python3 pkgconf-pkg-config libnetfilter_conntrack-devel libnetfilter_log-devel libmnl-devel',
  alpine: 'apk add build-base python3 pkgconf linux-headers libnetfilter_conntrack-dev libnetfilter_log-dev libmnl-dev',
} as const;

const REBUILD = 'then `npm rebuild @x/nfct` compiles the addon';

function buildAdvice(): string {
  return (
    'To compile it instead: ' +
    `Debian/Ubuntu: \`${BUILD_PACKAGES.debian}\`; Fedora/RHEL: \`${BUILD_PACKAGES.fedora}\`; ` +
    `Alpine: \`${BUILD_PACKAGES.alpine}\`; ${REBUILD}.`
  );
}

/** The error `require('@x/nfct')`'s first native call throws when the addon cannot load. */
export class NativeLoadError extends Error {
  /** Always 'ERR_NFCT_NATIVE_LOAD': the native addon could not be loaded on this machine. */
  readonly code = 'ERR_NFCT_NATIVE_LOAD';
  /** The shared library the dynamic loader could not find, when that was the reason. */
  readonly library: string | undefined;

  constructor(message: string, library: string | undefined, cause: unknown) {
    super(message, { cause });
    this.name = 'NativeLoadError';
    this.library = library;
  }
}

/** Turns whatever loading the addon threw into a NativeLoadError that says what to install. */
export function loadError(err: unknown): NativeLoadError {
  const text = err instanceof Error ? err.message : String(err);
  const head = '@x/nfct: the native addon could not be loaded';

  const missing = /([\w.+-]+\.so(?:\.\d+)*): cannot open shared object file/.exec(text);
  if (missing) {
    const lib = missing[1]!;
    const pkg = RUNTIME_PACKAGES[lib];
    const install = pkg
      ? `Install the package that provides it: Debian/Ubuntu \`${pkg.debian}\`, Fedora/RHEL \`${pkg.fedora}\`, Alpine \`${pkg.alpine}\`.`
      : 'Install the package that provides it.';
    return new NativeLoadError(`${head}: the shared library ${lib} is missing. ${install} (${text})`, lib, err);
  }

  const version = /version `((?:GLIBC|GLIBCXX|CXXABI)_[\d.]+)' not found/.exec(text);
  if (version) {
    return new NativeLoadError(
      `${head}: it needs ${version[1]}, newer than this system's C/C++ runtime. ${buildAdvice()} (${text})`,
      undefined,
      err,
    );
  }

  if (text.includes('No native build was found')) {
    return new NativeLoadError(
      `${head}: no prebuilt binary fits this system (prebuilt: linux-x64 and linux-arm64 with glibc 2.28 or newer), ` +
        "and none was compiled: the package's install script compiles one, and it did not run (installed with " +
        "--ignore-scripts, or left out by npm's install-script policy, which runs a dependency's script only when " +
        'the project\'s "allowScripts" covers it: `npm install-scripts approve @x/nfct`). ' +
        `${buildAdvice()} (${text})`,
      undefined,
      err,
    );
  }

  return new NativeLoadError(`${head}: ${text}`, undefined, err);
}
