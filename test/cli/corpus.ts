// The differential corpus: command lines run against `conntrack` and `nfct` in twin namespaces
// holding the same table (FIXTURE, loaded with conntrack -R into both). Each entry is a line
// of arguments; `shell` entries are pipelines run with `CT` standing for the program.
export interface CorpusLine {
  args?: string[];
  /** A shell pipeline; CT is replaced by the program (conntrack or nfct). */
  shell?: string;
  /** Start from an empty table instead of FIXTURE. */
  empty?: boolean;
  /** Run with a connlabel.conf naming bits 0-3 (a private mount namespace, both programs). */
  labels?: boolean;
  /**
   * Standard output is /dev/null: conntrack through a shell redirection, nfct in the test's
   * own process writing to a descriptor open on /dev/null (so its code is measured too).
   */
  devnull?: boolean;
}

/**
 * The table both namespaces start from (conntrack -R syntax). Every entry lives 300 s; the
 * harness loads it again well before that, so none expires between two listings.
 */
export const FIXTURE = [
  '-I -p tcp -s 10.0.0.1 -d 10.0.0.2 --sport 1001 --dport 80 -t 300 --state ESTABLISHED -u ASSURED -m 1',
  '-I -p tcp -s 10.0.0.1 -d 10.0.0.3 --sport 1002 --dport 443 -t 300 --state SYN_SENT -m 2 -w 5',
  '-I -p udp -s 10.0.0.1 -d 10.0.0.4 --sport 1003 --dport 53 -t 300 -m 3',
  '-I -p udp -s 10.0.1.5 -d 10.0.0.4 --sport 1004 --dport 53 -t 300 -u SEEN_REPLY',
  '-I -p tcp -s 2001:db8::1 -d 2001:db8::2 --sport 1005 --dport 22 -t 300 --state ESTABLISHED -m 1',
  '-I -p udp -s 2001:db8::1 -d 2001:db8::3 --sport 1006 --dport 53 -t 300',
  '-I -p icmp -s 10.0.0.1 -d 10.0.0.9 --icmp-type 8 --icmp-code 0 --icmp-id 7 -t 300',
  '-I -p icmpv6 -s 2001:db8::1 -d 2001:db8::9 --icmpv6-type 128 --icmpv6-code 0 --icmpv6-id 9 -t 300',
  '-I -p tcp -s 10.0.0.5 -d 10.0.0.6 --sport 1007 --dport 8080 -t 300 --state ESTABLISHED --dst-nat 192.168.1.1:80',
  '-I -p udp -s 10.0.0.7 -d 10.0.0.8 --sport 1008 --dport 5000 -t 300 --src-nat 172.16.0.1',
  '-I -p udp -s 10.0.0.7 -d 10.0.0.8 --sport 1009 --dport 5000 -t 300 --src-nat 172.16.0.1:2000',
  '-I -p tcp -s 2001:db8::5 -d 2001:db8::6 --sport 1010 --dport 80 -t 300 --state ESTABLISHED --dst-nat [2001:db8::7]:8080',
  '-I -p 200 -s 10.0.0.1 -d 10.0.0.2 -t 300',
  '-I -p igmp -s 10.0.0.1 -d 224.0.0.1 -t 300 -m 9',
  '-I -p tcp -s 10.0.2.1 -d 10.0.2.2 --sport 1011 --dport 25 -t 300 --state TIME_WAIT --orig-zone 3',
  '-I -p udp -s 10.0.2.1 -d 10.0.2.3 --sport 1012 --dport 123 -t 300 -w 7 -m 0x10',
  '-I -p tcp -r 10.0.3.2 -q 10.0.3.1 --reply-port-src 21 --reply-port-dst 11 -t 300 --state LISTEN -u SEEN_REPLY',
];

const words = (s: string): string[] => s.split(' ').filter(Boolean);
const L = (s: string, extra: Partial<CorpusLine> = {}): CorpusLine => ({ args: words(s), ...extra });

// Filters that apply to -L, -D (and -E): each is tried with each of those commands.
const FILTERS = [
  '',
  '-p tcp',
  '-p udp',
  '-p icmp',
  '-p icmpv6',
  '-p 200',
  '-p igmp',
  '-p 2',
  '-p TCP',
  '-p sctp',
  '-p gre',
  '-p nonsense',
  '-s 10.0.0.1',
  '-d 10.0.0.4',
  '-s 10.0.0.0/24',
  '-s 10.0.0.0/16',
  '-d 10.0.0.0/30',
  '-s 2001:db8::1',
  '-s 2001:db8::/64',
  '-r 10.0.0.2',
  '-q 10.0.0.1',
  '-r 192.168.1.1',
  '-f ipv4',
  '-f ipv6',
  '-f ipv6 -p tcp',
  '-m 1',
  '-m 3',
  '-m 0x10',
  '-m 1/1',
  '-m 2/0xff',
  '-w 5',
  '-w 7',
  '-w 0',
  '--orig-zone 3',
  '--reply-zone 3',
  '-u ASSURED',
  '-u SEEN_REPLY',
  '-u UNREPLIED',
  '-u !ASSURED',
  '-u ASSURED,SEEN_REPLY',
  '-p tcp --sport 1001',
  '-p tcp --dport 443',
  '-p udp --dport 53',
  '-p udp --reply-port-src 53',
  '-p udp --reply-port-dst 1003',
  '-p tcp --state ESTABLISHED',
  '-p tcp --state LISTEN',
  '-p tcp --state SYN_SENT',
  '-p tcp --state TIME_WAIT',
  '-p icmp --icmp-type 8',
  '-p icmp --icmp-id 7',
  '-p icmpv6 --icmpv6-type 128',
  '-s 10.0.0.1 --mask-src 255.255.255.0',
  '-d 10.0.0.4 --mask-dst 255.255.0.0',
  '-s 2001:db8::1 --mask-src ffff:ffff::',
  '--src-nat',
  '--dst-nat',
  '--any-nat',
  '--src-nat 172.16.0.1',
  '--dst-nat 192.168.1.1',
  '--dst-nat 192.168.1.1:80',
  '--dst-nat 192.168.1.1:81',
  '--src-nat :2000',
  '--any-nat 172.16.0.1',
  '--dst-nat [2001:db8::7]:8080',
  '-j',
  '-p tcp -s 10.0.0.1 -d 10.0.0.2 --sport 1001 --dport 80',
  '-s 10.0.0.1 -p udp -m 3',
];

// Refusals conntrack makes, tried with the commands listed.
const BAD = [
  '-s 1.2.3',
  '-s 300.1.1.1',
  '-s nonsense',
  '-s 10.0.0.1/33',
  '-s 10.0.0.1/x',
  '-r 10.0.0.1/24',
  '-s 10.0.0.1 -d 2001:db8::1',
  '-f ipx',
  '-p tcp --state BOGUS',
  '--sport 1',
  '-p udp --state ESTABLISHED',
  '-u BOGUS',
  '-u ,',
  '-o bogus',
  '-o save,extended',
  '--src-nat 1.1.1.1:',
  '--src-nat 1.1.1.1::',
  '--src-nat 1.1.1.1:80:80',
  '--src-nat :65536',
  '--dst-nat --any-nat',
  '--src-nat [2001:db8::1',
  '--src-nat []:80',
  '--src-nat [2001:db8::1]',
  '--mask-src 255.0.0.0',
  '--mask-dst 255.0.0.0',
  '-s',
  '-p',
  '--zone',
  '-x',
  '--bogus',
  '--d',
  '--sr 10.0.0.1',
  '-L -L',
  '-L -D',
  '-l nolabel',
  '--label-add x --label-del y',
];

function build(): CorpusLine[] {
  const out: CorpusLine[] = [];
  for (const f of FILTERS) {
    out.push(L(`-L ${f}`));
    out.push(L(`-D ${f}`));
  }
  for (const f of FILTERS.slice(0, 30)) out.push(L(`-L ${f} -o save`));
  for (const b of BAD) {
    out.push(L(`-L ${b}`));
    if (!b.startsWith('-L')) out.push(L(`-D ${b}`));
  }
  out.push(
    // output modes
    L('-L -o extended'),
    L('-L -o xml'),
    L('-L -o id'),
    L('-L -o extended,id'),
    L('-L -o ktimestamp'),
    L('-L -o timestamp'),
    L('-L -o userspace'),
    L('-L -o save,userspace'),
    L('-L -o EXTENDED'),
    L('-L -o ext'),
    L('-L -o xml,extended'),
    L('-L -p tcp -o xml'),
    L('-L -p nonsense -o xml'),
    L('-L -o labels'),
    L('-L -z'),
    L('-L -z -p tcp'),
    L('-L -z -f ipv4'),
    L('-D -p tcp -o save'),
    L('-D -p udp -o xml'),
    L('-D -p udp -o extended'),
    L('-D -p icmp -o id'),
    L('-D -f ipv6 -o save'),
    // tables and spellings
    L('-L conntrack'),
    L('-L dying'),
    L('-L unconfirmed'),
    L('-L expect'),
    L('-L exp'),
    L('-L c'),
    L('-L foo'),
    L('-Lconntrack'),
    L('--dump'),
    L('--dump -p tcp'),
    L('--dum'),
    L('-L --proto tcp'),
    L('-L --protonum=udp'),
    L('-L --src=10.0.0.1'),
    L('-L --orig-src 10.0.0.1'),
    L('-L --family ipv6'),
    L('-L -f ipv4xyz'),
    L('conntrack -L'),
    L('-L stray words -p tcp'),
    L('-L -- -p tcp'),
    L('-L -p tcp --sport=1001'),
    L('-L --dst 10.0.0.4 --dport 53 -p udp'),
    L('-L --dport 53 -p udp'),
    L('-L -pudp'),
    L('-L -s10.0.0.1'),
    L('-zL'),
    L('-D expect'),
    L('-D dying'),
    L('-I dying'),
    L('-U expect'),
    L('-A expect -p tcp'),
    // -G
    L('-G -p tcp -s 10.0.0.1 -d 10.0.0.2 --sport 1001 --dport 80'),
    L('-G -p tcp -s 10.0.0.1 -d 10.0.0.2 --sport 1001 --dport 81'),
    L('-G -p tcp -s 10.0.0.1 -d 10.0.0.2 --sport 1001 --dport 80 -o extended'),
    L('-G -p tcp -s 10.0.0.1 -d 10.0.0.2 --sport 1001 --dport 80 -o xml'),
    L('-G -p tcp -s 10.0.0.1 -d 10.0.0.2 --sport 1001 --dport 80 -o save'),
    L('-G -p udp -s 10.0.0.1 -d 10.0.0.4 --sport 1003 --dport 53'),
    L('-G -p tcp -s 10.0.0.1 -d 10.0.0.2'),
    L('-G -s 10.0.0.1 -d 10.0.0.2'),
    L('-G -p tcp -s 10.0.0.1 --sport 1 --dport 2'),
    L('-G -p icmp -s 10.0.0.1 -d 10.0.0.9 --icmp-type 8 --icmp-code 0 --icmp-id 7'),
    L('-G -p icmp -s 10.0.0.1 -d 10.0.0.9 --icmp-type 8'),
    L('-G -p tcp -s 2001:db8::1 -d 2001:db8::2 --sport 1005 --dport 22'),
    L('-G -p 200 -s 10.0.0.1 -d 10.0.0.2'),
    L('-G -p udp -s 10.0.2.1 -d 10.0.2.3 --sport 1012 --dport 123 -w 7'),
    L('-G -p tcp -s 10.0.0.1 -d 10.0.0.2 --sport 1001 --dport 80 -m 1'),
    L('-G -p tcp -s 10.0.0.1 -d 10.0.0.2 --sport 1001 --dport 80 -z'),
    // -I / -A
    L('-I -p tcp -s 1.1.1.1 -d 2.2.2.2 --sport 10 --dport 20 -t 50 --state ESTABLISHED'),
    L('-I -p tcp -s 1.1.1.1 -d 2.2.2.2 --sport 10 --dport 20 -t 50 --state LISTEN'),
    L('-I -p tcp -s 1.1.1.1 -d 2.2.2.2 --sport 10 --dport 20 -t 50'),
    L('-I -p tcp -s 1.1.1.1 -d 2.2.2.2 -t 50 --state ESTABLISHED'),
    L('-I -p tcp -s 10.0.0.1 -d 10.0.0.2 --sport 1001 --dport 80 -t 50 --state ESTABLISHED'),
    L('-A -p tcp -s 10.0.0.1 -d 10.0.0.2 --sport 1001 --dport 80 -t 50 --state ESTABLISHED'),
    L('-A -p tcp -s 1.1.1.1 -d 2.2.2.2 --sport 10 --dport 20 -t 50 --state ESTABLISHED'),
    L('-I -r 2.2.2.2 -q 1.1.1.1 -p tcp --reply-port-src 11 --reply-port-dst 21 --state LISTEN -u SEEN_REPLY -t 50'),
    L('-A -r 2.2.2.2 -q 1.1.1.1 -p udp --reply-port-src 11 --reply-port-dst 21 -t 50'),
    L('-I -p tcp -s 1.1.1.1 -d 2.2.2.2 -r 2.2.2.2 -q 1.1.1.9 --sport 10 --dport 20 --reply-port-src 20 --reply-port-dst 10 -t 50 --state ESTABLISHED'),
    L('-I -p tcp -s 1.1.1.1 -r 2.2.2.2 --sport 10 --dport 20 -t 50 --state ESTABLISHED'),
    L('-I -p udp -s 1.1.1.1 -d 2.2.2.2 --sport 10 --dport 20 -t 50 -m 5'),
    L('-I -p udp -s 1.1.1.1 -d 2.2.2.2 --sport 10 --dport 20 -t 50 -m 5/0xf'),
    L('-I -p udp -s 1.1.1.1 -d 2.2.2.2 --sport 10 --dport 20 -t 50 -u ASSURED'),
    L('-I -p udp -s 1.1.1.1 -d 2.2.2.2 --sport 10 --dport 20 -t 50 -u SEEN_REPLY,ASSURED'),
    L('-I -p udp -s 1.1.1.1 -d 2.2.2.2 --sport 10 --dport 20 -t 50 -w 9'),
    L('-I -p udp -s 1.1.1.1 -d 2.2.2.2 --sport 10 --dport 20 -t 50 --orig-zone 4 --reply-zone 5'),
    L('-I -p udp -s 1.1.1.1 -d 2.2.2.3 --sport 10 --dport 20 -t 50 --reply-zone 5'),
    L('-I -p udp -s 1.1.1.1 -d 2.2.2.4 --sport 10 --dport 20 -t 50 -w 3 --reply-zone 6'),
    L('-I -p udp -s 1.1.1.1 -d 2.2.2.2 --sport 10 --dport 20 -t 50 --src-nat 3.3.3.3'),
    L('-I -p udp -s 1.1.1.1 -d 2.2.2.2 --sport 10 --dport 20 -t 50 --dst-nat 3.3.3.3:99'),
    L('-I -p udp -s 1.1.1.1 -d 2.2.2.2 --sport 10 --dport 20 -t 50 --src-nat 3.3.3.3 --dst-nat 4.4.4.4'),
    L('-I -p udp -s 1.1.1.1 -d 2.2.2.2 --sport 10 --dport 20 -t 50 --any-nat 3.3.3.3'),
    L('-I -p udp -s 1.1.1.1 -d 2.2.2.2 --sport 10 --dport 20 -t 50 --dst-nat [::1]'),
    L('-I -p udp -s 2001:db8::a -d 2001:db8::b --sport 10 --dport 20 -t 50 --dst-nat [2001:db8::c]:53'),
    L('-I -p udp -s 2001:db8::a -d 2001:db8::b --sport 10 --dport 20 -t 50'),
    L('-I -p udp -s 1.1.1.1 -d 2.2.2.2 --sport 10 --dport 20'),
    L('-I -p udp -s 1.1.1.1 -d 2.2.2.2 --sport 10 --dport 20 -t 50 -z'),
    L('-I -s 1.1.1.1 -d 2.2.2.2 -t 50'),
    L('-I -p 200 -s 1.1.1.1 -d 2.2.2.2 -t 50'),
    L('-I -p igmp -s 1.1.1.1 -d 224.0.0.2 -t 50'),
    L('-I -p icmp -s 1.1.1.1 -d 2.2.2.2 -t 50 --icmp-type 8 --icmp-code 0 --icmp-id 5'),
    L('-I -p icmp -s 1.1.1.1 -d 2.2.2.2 -t 50 --icmp-type 8'),
    L('-I -p icmp -s 1.1.1.1 -d 2.2.2.2 -t 50 --icmp-type 8 --icmp-code 0'),
    L('-I -p icmpv6 -s ::1 -d ::2 -t 50 --icmpv6-type 128 --icmpv6-code 0 --icmpv6-id 5'),
    L('-I -p tcp -s 1.1.1.1 -d 2.2.2.2 --sport 10 --dport 20 -t 50 --state ESTABLISHED -o save'),
    L('-I -p tcp -s 1.1.1.1/24 -d 2.2.2.2 --sport 10 --dport 20 -t 50 --state ESTABLISHED'),
    L('-I -p sctp -s 1.1.1.1 -d 2.2.2.2 --sport 10 --dport 20 -t 50 --state ESTABLISHED --orig-vtag 1 --reply-vtag 2'),
    L('-I -p gre -s 1.1.1.1 -d 2.2.2.2 --srckey 1 --dstkey 2 -t 50'),
    L('-I -p udp -s 1.1.1.1 -d 2.2.2.2 --sport 70000 --dport 20 -t 50'),
    L('-I -p udp -s 1.1.1.1 -d 2.2.2.2 --sport 10 --dport 20 -t 50 -c 5'),
    L('-I -p udp -s 1.1.1.1 -d 2.2.2.2 --sport 10 --dport 20 -t 50 -l foo'),
    // -U
    L('-U -d 10.0.0.2 -m 7'),
    L('-U -d 10.0.0.2 -m 1'),
    L('-U -s 10.0.0.1 -p udp -m 7'),
    L('-U -s 10.0.0.1 -m 7'),
    L('-U -f ipv4 -p udp -m 5'),
    L('-U -f ipv4 -p udp -m 3'),
    L('-U -d 10.0.0.2 -m 0x100/0xf00'),
    L('-U -d 10.0.0.4 -u ASSURED'),
    L('-U -d 10.0.0.2 -t 100'),
    L('-U -d 10.0.0.2 -u ASSURED'),
    L('-U -p udp -m 5'),
    L('-U -p tcp -m 5'),
    // -u and -m together, in both orders (-u after -m: a deliberate difference, docs/cli.md).
    L('-L -m 1 -u ASSURED'),
    L('-L -u ASSURED -m 1'),
    L('-D -m 1 -u ASSURED'),
    L('-D -u ASSURED -m 1'),
    L('-U -d 10.0.0.2 -m 7 -u SEEN_REPLY'),
    L('-U -d 10.0.0.2 -u SEEN_REPLY -m 7'),
    L('-U -d 10.0.0.4 -m 7 -u UNSET'),
    L('-U -d 10.0.0.4 -u UNSET -m 7'),
    L('-U -d 10.0.0.4 -m 8 -o save'),
    L('-U -d 10.0.0.4 -m 8 -o xml'),
    L('-U -d 10.0.0.4 -m 8 -o extended'),
    L('-U -s 2001:db8::1 -m 4'),
    L('-U -s 10.0.0.0/24 -m 4'),
    L('-U -s 10.0.0.1 --mask-src 255.255.0.0 -m 4'),
    L('-U -m 4 --mask-dst 255.255.0.0'),
    L('-U -s 10.9.9.9 -m 4'),
    L('-U -s 10.0.0.1 -p tcp --dport 80 -m 6'),
    L('-U -s 10.0.0.1 -d 10.0.0.2 -p tcp --sport 1001 --dport 80 -m 6'),
    L('-U -s 10.0.0.7 --src-nat -m 6'),
    L('-U -s 10.0.0.1 -p icmp --icmp-type 8 -m 6'),
    L('-U -s 10.0.0.1 -z'),
    L('-U -s 10.0.0.1 -i 1 -m 6'),
    L('-U -s 10.0.0.1 --label-add foo'),
    L('-U -s 10.0.0.1 --label-del'),
    L('-U -d 10.0.0.2 -m 7 --label-del'),
    L('-U -d 10.0.0.2 -m 1 --label-del'),
    // -U --state sets the TCP state; -D -t alone is no filter; -c is not compared on entries
    // without a secmark; options without a command are illegal.
    // (Entries of zone 0: -U of one in another zone is a deliberate difference, see docs/cli.md.)
    L('-U -s 10.0.0.5 -p tcp --state TIME_WAIT'),
    L('-U -d 10.0.0.2 -p tcp --state ESTABLISHED -m 4'),
    L('-U -d 10.0.0.2 -p tcp --state ESTABLISHED'),
    L('-U -d 10.0.0.2 -p tcp --state LISTEN'),
    L('-U -d 10.0.0.2 -p tcp --state CLOSE -o save'),
    L('-D -t 299'),
    L('-D -t 299 -f ipv4'),
    L('-D -t 299 -p udp'),
    L('-L -c 1'),
    L('-D -c 1 -p icmp'),
    L('-p tcp'),
    L('-s 10.0.0.1 -m 1'),
    L('-m 1 -p tcp -s 1.1.1.1'),
    L('-f ipv4'),
    L('-o xml'),
    L('-z'),
    L('-n'),
    // A value attached to --src-nat/--dst-nat/--any-nat is ignored (only the next word counts).
    L('-L --src-nat=172.16.0.99'),
    L('-L -n172.16.0.99'),
    L('-L --dst-nat=10.9.9.9'),
    L('-L -g10.9.9.9'),
    L('-L --any-nat=10.9.9.9'),
    L('-L --src-nat='),
    L('-L --src-nat=1.2.3.4%x'),
    L('-I -p udp -s 1.1.1.1 -d 2.2.2.2 --sport 10 --dport 20 -t 50 --dst-nat=3.3.3.3', { empty: true }),
    L('-I -p udp -s 1.1.1.1 -d 2.2.2.2 --sport 10 --dport 20 -t 50 -n3.3.3.3', { empty: true }),
    // Addresses and prefixes as inet_pton() and strtol() read them.
    L('-L -s 2001:db8::1%1'),
    L('-D -s 2001:db8::1%1'),
    L('-L -f ipv6 -s ::1 --mask-src ffff::%1'),
    L('-I -p udp -s 2001:db8::1%1 -d 2001:db8::2 --sport 1 --dport 2 -t 5'),
    L('-L -s 10.0.0.1/'),
    L('-L -d 10.0.0.4/'),
    L('-L -s 2001:db8::1/'),
    L('-D -s 10.0.0.1/'),
    L('-L -s 10.0.0.1/+'),
    L('-L -s 10.0.0.1/+8'),
    L('-L -s 10.0.0.1/-0'),
    // Numbers past 2^53 and 2^64, as strtoul() and atoi() read them.
    ...['-m 18446744073709551615', '-m 99999999999999999999', '-m -1', '-t 18446744073709551615', '-t 4294967301',
      '-w 18446744073709551615', '-w 65537', '--sport 18446744073709551615', '--sport 4294967297', '-m 0x1ffffffff',
      '-m 0777777777777777777777'].map((x) =>
        L(`-I -p udp -s 5.5.5.5 -d 6.6.6.6 --sport 1 --dport 2 -t 40 ${x}`, { empty: true })
      ),
    { shell: "printf '%s\\n' '-m 2' | CT -R -" },
    { shell: "printf '%s\\n' '-p tcp -s 1.1.1.1' | CT -R -" },
    L('-L -p 4294967302'),
    L('-L -p 18446744073709551615'),
    L('-L -m 4294967297'),
    L('-L -p udp --dport 4294967349'),
    // -G: -i must be the entry's id; a reply tuple alone is refused by the kernel.
    L('-G -s 10.0.0.1 -d 10.0.0.4 -p udp --sport 1003 --dport 53 -i 5'),
    {
      shell:
        "CT -G -s 10.0.0.1 -d 10.0.0.4 -p udp --sport 1003 --dport 53 -i $(CT -G -s 10.0.0.1 -d 10.0.0.4 -p udp --sport 1003 --dport 53 -o id 2>/dev/null | sed 's/.* id=//') | sed 's/ id=.*//'",
    },
    L('-G -r 10.0.0.4 -q 10.0.0.1 -p udp --reply-port-src 53 --reply-port-dst 1003'),
    // -U -t 0: the entries expire as they change; none is read back, printed or counted.
    L('-U -d 10.0.0.4 -t 0'),
    L('-U -d 10.0.0.4 -t 4294967296'),
    L('-U -s 10.0.0.5 --dst-nat 192.168.1.1 -m 7'),
    // -D -i deletes only the entry with that id; -G compares state, reply tuple and id.
    L('-D -i 1'),
    L('-D -i 1 -p tcp'),
    L('-D -f ipv4 -i 1'),
    L('-D -p tcp -s 10.0.0.1 -d 10.0.0.2 --sport 1001 --dport 80 -i 1'),
    {
      shell:
        "CT -D -p udp -i $(CT -G -p udp -s 10.0.0.1 -d 10.0.0.4 --sport 1003 --dport 53 -o id 2>/dev/null | sed 's/.* id=//') | sed 's/ id=.*//'",
    },
    ...['--state LISTEN', '--state ESTABLISHED', '--reply-port-src 80', '-q 10.0.0.9', '-r 10.0.0.2 -q 10.0.0.1',
      '-r 10.0.0.2 -q 10.0.0.1 --reply-port-src 80 --reply-port-dst 1001',
      '-r 10.0.0.2 -q 10.0.0.1 --reply-port-src 81 --reply-port-dst 1001'].map((x) =>
        L(`-G -s 10.0.0.1 -d 10.0.0.2 -p tcp --sport 1001 --dport 80 ${x}`)
      ),
    // -u names a bad word with the rest of its list; DCCP's messages and roles.
    L('-L -u FOO,ASSURED'),
    L('-L -u ASSURED,FOO,SEEN_REPLY'),
    L('-L -u FOO,'),
    L('-L -u !FOO,ASSURED'),
    L('-U -d 10.0.0.4 -u BAR,ASSURED'),
    L('-L -p dccp --state BOGUS'),
    L('-L -p dccp --role bogus'),
    L('-L -p dccp --role CLIENT'),
    ...['CLIENT', 'Server', 'c', 's', 'x'].map((role) =>
      L(`-I -p dccp -s 1.1.1.1 -d 2.2.2.2 --sport 10 --dport 20 -t 50 --state OPEN --role ${role}`, { empty: true })
    ),
    // Abbreviated long options: conntrack's own first (--p is --protonum, not nfct's --pid).
    L('-L --p tcp'),
    L('-L --pr udp'),
    L('-L --orig-s 10.0.0.1'),
    L('-L --re 10.0.0.4'),
    // -F, -C, -S, -V, -h, -E refusals
    L('-F'),
    L('-F -f ipv6'),
    L('-F -f ipv4'),
    L('-F -p tcp'),
    L('-F expect'),
    L('-C'),
    L('-C expect'),
    L('-C -p tcp'),
    // -C: nfct's own process counts on its calling thread (commands/count.ts); the installed
    // command (CT in a shell line: bin.js) starts these with its count bundle (nfct-count.js).
    ...['-C -f ipv6', '-C -f ipv4', '--counter', '--co', '-C conntrack', '-C dying', '-C -C', '-C -a x', '-C -a',
      '-C -z', '-C -m 1', '-C -s 10.0.0.1', '-C bogus', '-C --sport 1'].map((c) => L(c)),
    ...['-C', '-C expect', '-C -p tcp', '-C -f ipv6', '--counter', '--co', '-C dying', '-C -C', '-C -a x', '-C -a',
      '-C -m 1', '-C bogus', '-C -L', '-C > /dev/null', '-C | cat'].map((c) => ({ shell: `CT ${c}` })),
    L('-C', { devnull: true }),
    L('-S'),
    L('-S -p tcp'),
    L('-V'),
    L('--version'),
    L('-h'),
    L('--help'),
    L(''),
    L('-E -p tcp --sport'),
    L('-E -I'),
    L('-E -t 5'),
    L('-E -e BOGUS'),
    L('-R'),
    L('-L -e NEW'),
    L('-L -b 100'),
    L('-D -z'),
    L('-D -o bogus'),
    L('-I expect -p tcp -s 1.1.1.1 -d 2.2.2.2'),
    // labels
    L('-L -o labels', { labels: true }),
    L('-L -l lbl1', { labels: true }),
    L('-L -l nosuch', { labels: true }),
    L('-I -p udp -s 1.1.1.1 -d 2.2.2.2 --sport 10 --dport 20 -t 50 --label-add lbl1,lbl2', { labels: true }),
    L('-U -s 10.0.0.1 -p udp --label-add lbl2', { labels: true }),
    L('-U -s 10.0.0.1 -p udp --label-del lbl2', { labels: true }),
    L('-U -s 10.0.0.1 --label-add lbl1 --label-del lbl2', { labels: true }),
    // -U on entries that have labels already: only a change of their set is an update.
    {
      shell:
        'CT -I -p udp -s 7.5.0.1 -d 7.2.2.2 --sport 1 --dport 2 -t 50 --label-add lbl1,lbl2 && CT -U -s 7.5.0.1 --label-add lbl2,lbl1 > /dev/null',
      labels: true,
    },
    {
      shell:
        'CT -I -p udp -s 7.5.0.2 -d 7.2.2.2 --sport 1 --dport 2 -t 50 --label-add lbl1,lbl3 && CT -U -s 7.5.0.2 --label-add lbl0 > /dev/null',
      labels: true,
    },
    {
      shell:
        'CT -I -p udp -s 7.5.0.3 -d 7.2.2.2 --sport 1 --dport 2 -t 50 --label-add lbl1,lbl3 && CT -U -s 7.5.0.3 --label-del lbl2 > /dev/null && CT -U -s 7.5.0.3 --label-del lbl3 > /dev/null && CT -L -s 7.5.0.3 -o labels',
      labels: true,
    },
    // ...and that lose every label: by name, and all of them (--label-del without a name).
    {
      shell:
        'CT -I -p udp -s 7.5.0.4 -d 7.2.2.2 --sport 1 --dport 2 -t 50 --label-add lbl2 && CT -U -s 7.5.0.4 --label-del lbl2 > /dev/null && CT -L -s 7.5.0.4 -o labels',
      labels: true,
    },
    {
      shell:
        'CT -I -p udp -s 7.5.0.5 -d 7.2.2.2 --sport 1 --dport 2 -t 50 --label-add lbl1,lbl3 && CT -U -s 7.5.0.5 --label-del > /dev/null && CT -L -s 7.5.0.5 -o labels',
      labels: true,
    },
    // -R, pipes
    { shell: 'CT -L -o save | CT -R -' },
    { shell: "CT -L -w 7 -o save | sed 's/-w 7/-w 8/' | CT -R -" },
    { shell: "CT -L -p udp -o save | sed 's/^-A/-I/' | CT -R -" },
    { shell: "CT -L -p udp -o save | sed 's/^-A/-A/' | CT -R -" },
    { shell: "CT -L -p tcp -o save | sed 's/^-A/-D/; s/-t [0-9]* //' | CT -R -" },
    L('-D -p tcp -t 1'),
    L('-D -p tcp -t 100000'),
    { shell: "printf '%s\\n' '-F' | CT -R -" },
    { shell: "printf '%s\\n' '-L' | CT -R -" },
    { shell: "printf '%s\\n' '-U -s 10.0.0.1 -m 9' | CT -R -" },
    { shell: "printf '%s\\n' '# comment' '' '   -I -p udp -s 5.5.5.5 -d 6.6.6.6 --sport 1 --dport 2 -t 40' | CT -R -" },
    {
      shell:
        "printf '%s\\n' '-I -p udp -s 5.5.5.5 -d 6.6.6.6 --sport 1 --dport 2 -t 40' '-I -p udp -s 5.5.5.5 -d 6.6.6.6 --sport 1 --dport 2 -t 40' | CT -R -",
    },
    { shell: "printf '%s\\n' '-I -p udp -s 5.5.5.5 -d 6.6.6.6 --sport 1 --dport 2 -t 40' '-L -bogus' | CT -R -" },
    { shell: 'CT -R /nonexistent/file' },
    { shell: 'CT -L | head -1 | wc -l' },
    { shell: 'CT -L -o save | head -2 | wc -l' },
    { shell: 'CT -D -p tcp -o save | CT -R - ; CT -L -p tcp -o save | wc -l' },
    { shell: 'CT -L -f ipv6 -o save | cat > /dev/null; CT -D -f ipv4' },
    // The reader keeps reading after its two lines: no race between the writer and EPIPE.
    { shell: 'CT -L -o xml | (head -2; cat > /dev/null)' },
    { shell: 'CT -D -p udp -o xml | wc -l' },
    // Both tuples given: each as given, a port not given is 0; a reply tuple without any port
    // (or GRE key) is refused by the kernel, on -I and when its turn comes in -R.
    L('-I -p udp -s 7.1.1.1 -d 7.2.2.2 -r 7.2.2.2 -q 7.1.1.1 --sport 1 --dport 2 -t 50'),
    L('-I -p tcp -s 7.1.1.1 -d 7.2.2.2 -r 7.2.2.2 -q 7.1.1.1 --sport 1 --dport 2 --state ESTABLISHED -t 50'),
    L('-I -p udp -s 7.1.1.3 -d 7.2.2.2 -r 7.2.2.2 -q 7.1.1.3 --sport 1 --dport 2 --reply-port-src 2 -t 50'),
    L('-I -p udp -s 7.1.1.4 -d 7.2.2.2 -r 7.2.2.2 -q 7.1.1.4 --reply-port-src 2 --reply-port-dst 1 -t 50'),
    L('-I -p udp -s 7.1.1.5 -d 7.2.2.2 -r 7.2.2.2 -q 7.1.1.5 --sport 1 --dport 2 --reply-port-dst 1 -t 50'),
    L('-I -p gre -s 7.1.1.5 -d 7.2.2.2 -r 7.2.2.2 -q 7.1.1.5 --srckey 1 --dstkey 2 -t 50'),
    {
      shell:
        "printf '%s\\n' '-I -p udp -s 7.1.1.6 -d 7.2.2.2 --sport 1 --dport 2 -t 40' '-I -p udp -s 7.1.1.7 -d 7.2.2.2 -r 7.2.2.2 -q 7.1.1.7 --sport 1 --dport 2 -t 40' '-I -p udp -s 7.1.1.8 -d 7.2.2.2 --sport 1 --dport 2 -t 40' | CT -R -",
    },
    // Tuples given in part: each starts as zeros (address 0.0.0.0 or ::, port or key 0) and
    // takes what the line gives; the original alone makes the reply its inverse (reply ports
    // without -r/-q are dropped), the reply alone the original.
    L('-I -p gre -s 7.4.1.1 -d 7.2.2.2 -r 7.2.2.2 -q 7.4.1.1 --srckey 5 --dstkey 6 --reply-key-src 6 --reply-key-dst 5 -t 50'),
    L('-I -p gre -r 7.2.2.2 -q 7.4.1.2 --reply-key-src 3 --reply-key-dst 4 -t 50'),
    L('-I -p gre -s 7.4.1.3 -d 7.2.2.2 --reply-key-src 3 --reply-key-dst 4 -t 50'),
    L('-I -p udp -d 7.2.2.2 -r 7.2.2.2 -q 7.4.1.7 --sport 1 --dport 2 --reply-port-src 2 --reply-port-dst 1 -t 50'),
    L('-I -p udp -s 7.4.1.8 -d 7.2.2.2 -r 7.2.2.2 --sport 1 --dport 2 --reply-port-src 2 --reply-port-dst 1 -t 50'),
    L('-I -p udp -s 7.4.1.9 -d 7.2.2.2 -q 7.4.1.9 --sport 1 --dport 2 --reply-port-src 2 -t 50'),
    L('-I -p udp -s 7.4.1.10 -d 7.2.2.2 --dport 2 --reply-port-src 2 --reply-port-dst 9 -t 50'),
    L('-I -p udp -s 7.4.1.11 -d 7.2.2.2 --reply-port-src 2 --reply-port-dst 9 -t 50'),
    L('-I -p tcp -s 2001:db8::4:1:12 -d 2001:db8::2 -q 2001:db8::4:1:12 --sport 1 --dport 2 --reply-port-src 2 --reply-port-dst 1 --state ESTABLISHED -t 50'),
    L('-I -p udp -r 7.2.2.2 -q 7.4.1.13 --reply-port-src 2 --reply-port-dst 9 -t 50 --src-nat 7.9.9.9'),
    // A reply tuple given in part and no reply port: refused by the kernel, as conntrack's is.
    L('-I -p udp -d 7.2.2.2 -r 7.2.2.2 -q 7.4.1.20 --sport 1 --dport 2 -t 50'),
    L('-I -p udp -s 7.4.1.21 -d 7.2.2.2 -q 7.4.1.21 --sport 1 --dport 2 -t 50'),
    L('-G -p udp -r 7.2.2.2 -q 7.4.1.22 --reply-port-src 2 --reply-port-dst 9'),
    // A protocol without ports given by its reply tuple alone: the original is its inverse.
    L('-I -p 99 -r 7.2.2.2 -q 7.4.1.24 -t 50'),
    // -G with an original given in part: zeros for the address not given, as conntrack sends it.
    L('-G -p tcp -s 10.0.0.1 -r 10.0.0.2 -q 10.0.0.1 --sport 1001 --dport 80'),
    L('-G -p udp -s 2001:db8::1 -r 2001:db8::2 -q 2001:db8::1 --sport 1 --dport 2'),
    // Reply ports without the reply addresses: conntrack says the failure with errno 0 (with
    // ENODATA for TCP).
    L('-G -p udp -s 10.0.0.1 -d 10.0.0.4 --sport 1003 --dport 53 --reply-port-dst 1003'),
    L('-G -p udp -s 10.0.0.1 -d 10.0.0.4 --sport 1003 --dport 53 --reply-port-src 53'),
    L('-G -p sctp -s 10.0.0.1 -d 10.0.0.4 --sport 1 --dport 2 --reply-port-src 2'),
    L('-G -p gre -s 10.0.0.1 -d 10.0.0.4 --srckey 1 --dstkey 2 --reply-key-src 2'),
    L('-G -p gre -s 10.0.0.1 -d 10.0.0.4 --srckey 1 --dstkey 2 --reply-key-dst 1'),
    // One reply address is enough for reply ports: the entry is found.
    L('-G -p udp -s 10.0.0.1 -d 10.0.0.4 --sport 1003 --dport 53 -r 10.0.0.4 --reply-port-src 53'),
    L('-G -p udp -s 10.0.0.1 -d 10.0.0.4 --sport 1003 --dport 53 -q 10.0.0.1 --reply-port-dst 1003'),
    L('-L expect -o xml'),
    {
      shell:
        'CT -I -p icmp -s 7.4.1.36 -r 7.2.2.2 -q 7.4.1.36 --icmp-type 8 --icmp-code 0 --icmp-id 4 -t 50 > /dev/null && CT -G -p icmp -s 7.4.1.36 -r 7.2.2.2 -q 7.4.1.36 --icmp-type 8 --icmp-code 0 --icmp-id 4 -o id | sed "s/ id=.*//"',
    },
    // A status the kernel refuses on a new entry (EXPECTED: Device or resource busy).
    L('-I -p udp -s 7.4.1.34 -d 7.2.2.2 --sport 1 --dport 2 -t 50 -u EXPECTED'),
    L('-I -p udp -s 7.4.1.35 -d 7.2.2.2 --sport 1 --dport 2 -t 50 -u EXPECTED,ASSURED'),
    // ICMP and protocols without ports, tuples given in part: zeros as for ports; the reply
    // gets its ICMP type (8 answers 0, 13 answers 14) whichever addresses it has; an ICMP
    // entry by its reply alone is refused by the kernel, as conntrack's is (-R refuses it too).
    L('-I -p icmp -s 7.4.1.25 -r 7.2.2.2 -q 7.4.1.25 --icmp-type 8 --icmp-code 0 --icmp-id 5 -t 50'),
    L('-I -p icmp -s 7.4.1.26 -d 7.2.2.2 -r 7.2.2.2 --icmp-type 13 --icmp-code 0 --icmp-id 6 -t 50'),
    L('-I -p icmp -r 7.2.2.2 -q 7.4.1.27 --icmp-type 8 --icmp-code 0 --icmp-id 2048 -t 50'),
    L('-I -p icmpv6 -s 2001:db8::4:1:28 -d 2001:db8::2 -q 2001:db8::4:1:28 --icmpv6-type 128 --icmpv6-code 0 --icmpv6-id 7 -t 50'),
    L('-I -p icmpv6 -r 2001:db8::2 -q 2001:db8::4:1:29 --icmpv6-type 128 --icmpv6-code 0 --icmpv6-id 7 -t 50'),
    L('-I -p 99 -s 7.4.1.30 -r 7.2.2.2 -q 7.4.1.30 -t 50'),
    L('-I -p 99 -s 7.4.1.31 -d 7.2.2.2 -r 7.2.2.3 -t 50'),
    {
      shell:
        "printf '%s\\n' '-I -p icmp -s 7.4.1.32 -d 7.2.2.2 --icmp-type 8 --icmp-code 0 --icmp-id 1 -t 40' '-I -p icmp -r 7.2.2.2 -q 7.4.1.33 --icmp-type 8 --icmp-code 0 --icmp-id 1 -t 40' | CT -R -",
    },
    // -R's line reader: at most 253 words a line (a longer line refuses the whole file before
    // anything is done), at most 1023 bytes a word, and a line longer than 10239 bytes read as
    // several lines; a comment line is not split at all.
    {
      shell:
        "{ printf '%s' '-I -p udp -s 7.3.3.1 -d 7.2.2.2 --sport 1 --dport 2 -t 40'; for i in $(seq 120); do printf ' -m 1'; done; echo; } | CT -R -",
    },
    // A line the library refuses before the kernel (a zone for each direction): what the kernel
    // answers conntrack, after the lines before it are done.
    {
      shell:
        "printf '%s\\n' '-I -p udp -s 7.6.0.1 -d 7.2.2.2 --sport 1 --dport 2 -t 50' '-I -p udp -s 7.6.0.2 -d 7.2.2.2 --sport 1 --dport 2 -t 50 --orig-zone 4 --reply-zone 5' | CT -R -",
    },
    // An input that starts with an empty line: each line after it read as its own.
    {
      shell:
        "{ echo; echo '-I -p udp -s 7.3.6.1 -d 7.2.2.2 --sport 1 --dport 2 -t 40'; echo '-I -p udp -s 7.3.6.2 -d 7.2.2.2 --sport 1 --dport 2 -t 40'; } | CT -R -",
    },
    {
      shell:
        "{ echo; printf '%s' '-I -p udp -s 7.3.6.3 -d 7.2.2.2 --sport 1 --dport 2 -t 40'; for i in $(seq 121); do printf ' -m 1'; done; echo; } | CT -R -",
    },
    // The same at the end of the input, without a newline: the last word counts as well.
    {
      shell:
        "{ printf '%s' '-I -p udp -s 7.3.3.7 -d 7.2.2.2 --sport 1 --dport 2 -t 40'; for i in $(seq 120); do printf ' -m 1'; done; } | CT -R -",
    },
    {
      shell:
        "{ printf '%s' '-I -p udp -s 7.3.3.8 -d 7.2.2.2 --sport 1 --dport 2 -t 40'; for i in $(seq 120); do printf ' -m 1'; done; printf ' -z'; } | CT -R -",
    },
    {
      shell:
        "{ echo '-I -p udp -s 7.3.3.2 -d 7.2.2.2 --sport 1 --dport 2 -t 40'; printf '%s' '-I -p udp -s 7.3.3.3 -d 7.2.2.2 --sport 1 --dport 2 -t 40'; for i in $(seq 120); do printf ' -m 1'; done; echo ' -z'; } | CT -R -",
    },
    {
      shell:
        "{ printf '%s' '-I -p udp -s 7.3.3.4 -d 7.2.2.2 --sport 1 --dport 2 -t 40 -m \"'; for i in $(seq 300); do printf ' '; done; echo '\"'; } | CT -R -",
    },
    {
      shell:
        "{ printf '#'; for i in $(seq 300); do printf ' x'; done; echo; echo '-I -p udp -s 7.3.3.5 -d 7.2.2.2 --sport 1 --dport 2 -t 40'; } | CT -R -",
    },
    {
      shell:
        "printf '%s -m %s\\n' '-I -p udp -s 7.3.3.6 -d 7.2.2.2 --sport 1 --dport 2 -t 40' \"$(head -c 5000 /dev/zero | tr '\\0' 1)\" | CT -R -",
    },
    {
      shell:
        "printf '%s -m %s1\\n' '-I -p udp -s 7.3.3.7 -d 7.2.2.2 --sport 1 --dport 2 -t 40' \"$(head -c 1022 /dev/zero | tr '\\0' 0)\" | CT -R -",
    },
    {
      shell:
        "printf '%s -m %s1\\n' '-I -p udp -s 7.3.3.8 -d 7.2.2.2 --sport 1 --dport 2 -t 40' \"$(head -c 1023 /dev/zero | tr '\\0' 0)\" | CT -R -",
    },
    {
      shell:
        "printf '%s%s%s\\n' '-I -p udp -s 7.3.3.9 -d 7.2.2.2 --sport 1 --dport 2 -t 40' \"$(head -c 10300 /dev/zero | tr '\\0' ' ')\" '-I -p udp -s 7.3.3.10 -d 7.2.2.2 --sport 1 --dport 2 -t 40' | CT -R -",
    },
    // Quotes and escapes past the limits: an escaped quote keeps its word open, a word quoted
    // whole may hold blanks, a closing quote ends its word, tabs separate words (241 words
    // after the 12 of the entry make 253), and an escape applies to one byte only.
    {
      shell:
        "{ printf '%s' '-I -p udp -s 7.3.5.1 -d 7.2.2.2 --sport 1 --dport 2 -t 40 -m \"\\\"'; for i in $(seq 300); do printf ' x'; done; echo '\"'; } | CT -R -",
    },
    {
      shell:
        "{ printf '%s' '-I -p udp -s 7.3.5.2 -d 7.2.2.2 --sport 1 --dport 2 -t 40 -m \"'; for i in $(seq 300); do printf ' x'; done; echo '\"'; } | CT -R -",
    },
    {
      shell:
        "{ printf '%s' '-I -p udp -s 7.3.5.3 -d 7.2.2.2 --sport 1 --dport 2 -t 40 -m \"1\"'; for i in $(seq 300); do printf ' x'; done; echo; } | CT -R -",
    },
    {
      shell:
        "{ printf '%s' '-I -p udp -s 7.3.5.4 -d 7.2.2.2 --sport 1 --dport 2 -t 40'; for i in $(seq 241); do printf '\\t-z'; done; echo; } | CT -R -",
    },
    {
      shell:
        "{ printf '%s' '-I -p udp -s 7.3.5.5 -d 7.2.2.2 --sport 1 --dport 2 -t 40'; for i in $(seq 242); do printf '\\t-z'; done; echo; } | CT -R -",
    },
    {
      shell:
        "{ printf '%s' '-I -p udp -s 7.3.5.6 -d 7.2.2.2 --sport 1 --dport 2 -t 40 -m \"\\\"'; head -c 600 /dev/zero | tr '\\0' x; printf '\" -z '; head -c 600 /dev/zero | tr '\\0' y; echo; } | CT -R -",
    },
    // A closing quote ends its word: `"1"2` is mark 1 and a stray 2, `""5` an empty mark.
    {
      shell:
        "printf '%s\\n' '-I -p udp -s 7.3.4.1 -d 7.2.2.2 --sport 1 --dport 2 -t 40 -m \"1\"2' '-I -p udp -s 7.3.4.2 -d 7.2.2.2 --sport 1 --dport 2 -t 40 -m \"\"5' '-I -p udp -s 7.3.4.3 -d 7.2.2.2 --sport 1 --dport 2 -t 40 -m 3\"4\"' | CT -R - && CT -L -d 7.2.2.2",
    },
    // A file conntrack opens but cannot read (a directory) is an empty file; a standard input
    // that is closed, one it cannot open.
    { shell: 'CT -R /tmp' },
    { shell: 'CT -R - <&-' },
    // conntrack reads each line as a C string: it ends at a NUL byte; a line that is empty
    // that way, or only blanks without its newline, is a command line without a command.
    { shell: "printf '\\0\\0\\0\\n' | CT -R -" },
    {
      shell:
        "printf '%s\\0%s\\n' '-I -p udp -s 7.3.5.1 -d 7.2.2.2 --sport 1 --dport 2 -t 40' 'garbage -x' | CT -R - && CT -L -d 7.2.2.2",
    },
    { shell: "printf '\\0%s\\n' '-I -p udp -s 7.3.5.2 -d 7.2.2.2 --sport 1 --dport 2 -t 40' | CT -R -" },
    { shell: "printf '%s\\n   ' '-I -p udp -s 7.3.5.3 -d 7.2.2.2 --sport 1 --dport 2 -t 40' | CT -R -" },
    { shell: 'head -c 100000 /dev/zero | CT -R -' },
    { shell: 'CT --load-file /tmp' },
    // A write error other than EPIPE (ENOSPC): the output is lost, the command goes on to its
    // summary and exit status.
    { shell: 'CT -L > /dev/full' },
    { shell: 'CT -L -o xml > /dev/full' },
    { shell: 'CT -L -o save -p tcp > /dev/full' },
    { shell: 'CT -G -p tcp -s 10.0.0.1 -d 10.0.0.2 --sport 1001 --dport 80 > /dev/full' },
    { shell: 'CT -D -p udp > /dev/full' },
    { shell: 'CT -D -p tcp -o xml > /dev/full' },
    { shell: 'CT -C > /dev/full' },
    // An unknown option is named as glibc's getopt leaves argv[optind - 1]: the word itself
    // when the letter ends it, else the word before it (the last word skipped, or the
    // program's own name); a missing value names its whole word.
    { shell: 'CT -R/tmp/f' },
    { shell: 'CT -R=/tmp/f' },
    { shell: 'CT -xL' },
    L('-L -zx'),
    L('-L -zxq'),
    L('-L -zp'),
    L('-L -s 10.0.0.1 -xs'),
    L('-L -z a -p tcp -xq'),
    L('-L -p tcp a b -xq'),
    L('-L -p tcp - -xq'),
    L('-D -p tcp y -s 10.0.0.1 -xq'),
    L('-L -p tcp -xy --sport 1'),
    // a table name in capitals is no table
    L('-L EXPECT'),
    L('-F EXPECT'),
    L('-D EXPECT'),
    // Deletes nobody reads (stdout /dev/null): counted, not printed; the same count and table.
    { shell: 'CT -D -p udp > /dev/null' },
    { shell: 'CT -D -s 10.0.0.1 -o extended > /dev/null' },
    { shell: 'CT -D -p tcp --state ESTABLISHED > /dev/null' },
    { shell: 'CT -D -p sctp > /dev/null' },
    // ...and whose filter is only the family and the mark: the kernel's flush deletes them (no
    // dump); the count and the exit status (1 when none matched) are conntrack's all the same.
    ...['', '-f ipv4', '-f ipv6', '-m 1', '-m 0x10', '-m 99', '-m 0', '-m 2/0xff', '-m 1/0', '-f ipv6 -m 1',
      '-f ipv4 -m 99', '-f ipv6 -m 9']
      .map((f) => L(`-D ${f}`, { devnull: true })),
    { shell: 'CT -D -f ipv4 > /dev/null' },
    { shell: 'CT -D -m 1 > /dev/null' },
    { shell: 'CT -D -m 99 > /dev/null' },
    { shell: 'CT -D -f ipv6 -m 98 > /dev/null; CT -D -f ipv6 > /dev/null' },
  );
  return out;
}

export const CORPUS: readonly CorpusLine[] = build();
