// `nfct flows`'s command line, read flag by flag (parseFlowsArgs): what each flag sets, the
// bounds of its numbers (both ends accepted, one past refused), and the refusals word for word.
// test/flows/cli.test.ts runs the command itself.
import { describe, expect, test } from 'vitest';

import { parseFlowsArgs } from '../../lib/cli/commands/flows.js';
import { CliExit } from '../../lib/cli/messages.js';

const BASE = { json: false, print: true, collectors: [], allNetns: false, enable: false, filter: {} };

/** What the command line gives, or the message it is refused with (exit status 2). */
function read(argv: string[]): unknown {
  try {
    return parseFlowsArgs(argv);
  } catch (e) {
    if (!(e instanceof CliExit)) throw e;
    expect([e.code, e.tryHelp]).toEqual([2, true]);
    return e.message;
  }
}

describe('nfct flows: each flag', () => {
  test.each([
    [['--json'], { json: true }],
    [['--enable-sysctls'], { enable: true }],
    [['--netns', 'blue'], { netns: 'blue', nsFlag: '--netns' }],
    [['--pid', '1'], { netns: { pid: 1 }, nsFlag: '--pid' }],
    [['--pid', '2147483647'], { netns: { pid: 2 ** 31 - 1 }, nsFlag: '--pid' }],
    [['--pod', 'kube-system/coredns-5d78c9869d-abcde'], { pod: 'kube-system/coredns-5d78c9869d-abcde',
      nsFlag: '--pod' }],
    [['--pod', 'default/web', '--pod-log-dir', '/tmp/pods'], { pod: 'default/web', nsFlag: '--pod',
      podLogDir: '/tmp/pods' }],
    [['--all-netns', '--netns-regex', '^pod'], { allNetns: true, pattern: /^pod/ }],
    [['--active-timeout', '86400'], { activeTimeout: 86_400 }],
    [['--active-timeout', '1'], { activeTimeout: 1 }],
    [['--ipfix-mtu', '256'], { mtu: 256 }],
    [['--ipfix-mtu', '65507'], { mtu: 65_507 }],
    [['--template-refresh', '600'], { templateRefresh: 600 }],
    [['-p', 'udp'], { filter: { protocol: 'udp' } }],
    [['--proto', 'gre'], { filter: { protocol: 'gre' } }],
    [['-f', 'ipv6'], { filter: { family: 'ipv6' } }],
    [['--family', 'ipv4'], { filter: { family: 'ipv4' } }],
    [['-s', '10.0.0.1'], { filter: { src: '10.0.0.1' } }],
    [['--src', '10.0.0.0/8'], { filter: { src: '10.0.0.0/8' } }],
    [['-d', 'fd00::1'], { filter: { dst: 'fd00::1' } }],
    [['--dst', 'fd00::/64'], { filter: { dst: 'fd00::/64' } }],
    [['--sport', '0'], { filter: { srcPort: 0 } }],
    [['--dport', '65535'], { filter: { dstPort: 65_535 } }],
    [['-m', '4294967295'], { filter: { mark: 0xffffffff } }],
    [['--mark', '7'], { filter: { mark: 7 } }],
    [['-w', '3'], { filter: { zone: 3 } }],
    [['--zone', '65535'], { filter: { zone: 65_535 } }],
  ])('%j', (argv, fields) => {
    expect(read(argv)).toEqual({ ...BASE, ...fields });
  });

  test('-h and --help: the help', () => {
    expect(read(['-h'])).toBe('help');
    expect(read(['--json', '--help'])).toBe('help');
  });

  test('--ipfix: records are exported, not printed, unless --print or --json asks for them too', () => {
    const collector = { transport: 'udp', host: '127.0.0.1', port: 4739 };
    expect(read(['--ipfix', '127.0.0.1:4739'])).toMatchObject({ print: false, collectors: [collector] });
    expect(read(['--ipfix', '127.0.0.1:4739', '--print'])).toMatchObject({ print: true });
    expect(read(['--ipfix', '127.0.0.1:4739', '--json'])).toMatchObject({ print: true, json: true });
  });
});

describe('nfct flows: refusals name the flag', () => {
  test.each([
    [['--pid', '0'], 'nfct flows: --pid must be a whole number from 1 to 2147483647, got "0"'],
    [['--pid', '2147483648'], 'nfct flows: --pid must be a whole number from 1 to 2147483647, got "2147483648"'],
    [['--pid', '12x'], 'nfct flows: --pid must be a whole number from 1 to 2147483647, got "12x"'],
    [['--active-timeout', '86401'], 'nfct flows: --active-timeout must be a whole number from 1 to 86400, got "86401"'],
    [['--ipfix-mtu', '255'], 'nfct flows: --ipfix-mtu must be a whole number from 256 to 65507, got "255"'],
    [['--ipfix-mtu', '65508'], 'nfct flows: --ipfix-mtu must be a whole number from 256 to 65507, got "65508"'],
    [['--template-refresh', '0'], 'nfct flows: --template-refresh must be a whole number from 1 to 86400, got "0"'],
    [['--sport', '65536'], 'nfct flows: --sport must be a whole number from 0 to 65535, got "65536"'],
    [['--zone', '-1'], 'nfct flows: --zone must be a whole number from 0 to 65535, got "-1"'],
    [['--mark', '4294967296'], 'nfct flows: --mark must be a whole number from 0 to 4294967295, got "4294967296"'],
    [['--pod', 'web'], 'nfct flows: --pod must be NAMESPACE/NAME, got "web"'],
    [['--family', 'inet'], 'nfct flows: --family must be ipv4 or ipv6, got "inet"'],
    [['-f', 'ipv5'], 'nfct flows: -f must be ipv4 or ipv6, got "ipv5"'],
    [['--dport'], 'nfct flows: --dport needs a value'],
    [['--netns'], 'nfct flows: --netns needs a value'],
    [['--pod', 'a/b', '--all-netns'], 'nfct flows: --all-netns cannot be combined with --pod'],
    [['--pid', '5', '--all-netns'], 'nfct flows: --all-netns cannot be combined with --pid'],
  ])('%j', (argv, message) => {
    expect(read(argv)).toBe(message);
  });
});
