/**
 * The SSRF guard: webhook deliveries may not reach loopback, link-local (including the cloud
 * metadata address 169.254.169.254), private, shared (CGNAT), unspecified, multicast,
 * broadcast or reserved addresses unless the configuration allows them. The check runs on
 * the addresses a host name actually resolves to, inside the `lookup` function the HTTP
 * request connects with, so there is no gap between checking and connecting (no DNS
 * rebinding); IP-literal URLs, which node connects to without a lookup, are checked before
 * the request is made.
 */

import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { BlockList, isIP } from 'node:net';

export type AddressClass =
  | 'public'
  | 'loopback'
  | 'private'
  | 'shared'
  | 'link-local'
  | 'unspecified'
  | 'multicast'
  | 'broadcast'
  | 'reserved';

export interface AddressClassification {
  class: AddressClass;
  /** The address that was classified (for an IPv6 form embedding IPv4, that IPv4 address). */
  address: string;
  family: 4 | 6;
}

const CLASS_LABEL: Record<AddressClass, string> = {
  public: 'a public address',
  loopback: 'a loopback address',
  private: 'a private address',
  shared: 'a shared (CGNAT, 100.64.0.0/10) address',
  'link-local': 'a link-local address',
  unspecified: 'an unspecified address',
  multicast: 'a multicast address',
  broadcast: 'the broadcast address',
  reserved: 'a reserved (non-global) address',
};

type Range = [network: string, prefix: number];

function blockList(family: 'ipv4' | 'ipv6', ranges: Range[]): BlockList {
  const list = new BlockList();
  for (const [network, prefix] of ranges) list.addSubnet(network, prefix, family);
  return list;
}

/** Checked in order; the first match decides. Anything unmatched is public. */
const IPV4_CLASSES: [AddressClass, BlockList][] = [
  ['broadcast', blockList('ipv4', [['255.255.255.255', 32]])],
  ['unspecified', blockList('ipv4', [['0.0.0.0', 8]])],
  ['loopback', blockList('ipv4', [['127.0.0.0', 8]])],
  [
    'private',
    blockList('ipv4', [
      ['10.0.0.0', 8],
      ['172.16.0.0', 12],
      ['192.168.0.0', 16],
    ]),
  ],
  ['shared', blockList('ipv4', [['100.64.0.0', 10]])],
  ['link-local', blockList('ipv4', [['169.254.0.0', 16]])],
  ['multicast', blockList('ipv4', [['224.0.0.0', 4]])],
  [
    'reserved',
    blockList('ipv4', [
      ['192.0.0.0', 24], // IETF protocol assignments
      ['192.0.2.0', 24], // documentation
      ['198.18.0.0', 15], // benchmarking
      ['198.51.100.0', 24], // documentation
      ['203.0.113.0', 24], // documentation
      ['240.0.0.0', 4], // reserved
    ]),
  ],
];

/** IPv6 forms that embed an IPv4 address are classified by that address (see embeddedIpv4). */
const IPV6_CLASSES: [AddressClass, BlockList][] = [
  ['unspecified', blockList('ipv6', [['::', 128]])],
  ['loopback', blockList('ipv6', [['::1', 128]])],
  ['link-local', blockList('ipv6', [['fe80::', 10]])],
  [
    'private',
    blockList('ipv6', [
      ['fc00::', 7], // unique local
      ['fec0::', 10], // site-local (deprecated)
    ]),
  ],
  ['multicast', blockList('ipv6', [['ff00::', 8]])],
  [
    'reserved',
    blockList('ipv6', [
      ['::', 96], // IPv4-compatible (deprecated)
      ['64:ff9b:1::', 48], // local-use NAT64
      ['100::', 64], // discard-only
      ['2001::', 32], // Teredo (embeds an obfuscated IPv4 address)
      ['2001:db8::', 32], // documentation
    ]),
  ],
];

/** Global unicast: the only IPv6 space outside the classes above that is public. */
const IPV6_GLOBAL = blockList('ipv6', [['2000::', 3]]);

/** Parses an IPv6 address (with optional zone and trailing dotted quad) into 8 16-bit groups. */
function ipv6Groups(address: string): number[] | undefined {
  let text = address.replace(/^\[|\]$/g, '');
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  if (isIP(text) !== 6) return undefined;
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted?.[1]) {
    const octets = dotted[1].split('.').map(Number);
    const [a = 0, b = 0, c = 0, d = 0] = octets;
    text = `${text.slice(0, -dotted[1].length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((g) => Number.parseInt(g, 16)));
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  const fill = tail === undefined ? [] : new Array<number>(8 - left.length - right.length).fill(0);
  const groups = [...left, ...fill, ...right];
  return groups.length === 8 ? groups : undefined;
}

function ipv4FromGroups(high: number, low: number): string {
  return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
}

/**
 * The IPv4 address an IPv6 address stands for, if it is one of the forms that route to IPv4:
 * IPv4-mapped (::ffff:a.b.c.d, in any notation), IPv4-translated (::ffff:0:a.b.c.d), NAT64
 * well-known prefix (64:ff9b::/96) and 6to4 (2002::/16).
 */
export function embeddedIpv4(address: string): string | undefined {
  const g = ipv6Groups(address);
  if (!g) return undefined;
  const [g0, g1, g2, g3, g4, g5, g6 = 0, g7 = 0] = g;
  const zeroTo = (n: number) => g.slice(0, n).every((x) => x === 0);
  if (zeroTo(5) && g5 === 0xffff) return ipv4FromGroups(g6, g7);
  if (zeroTo(4) && g4 === 0xffff && g5 === 0) return ipv4FromGroups(g6, g7);
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0)
    return ipv4FromGroups(g6, g7);
  if (g0 === 0x2002) return ipv4FromGroups(g1 ?? 0, g2 ?? 0);
  return undefined;
}

/** Classifies an IP address (IPv4, IPv6, bracketed IPv6, IPv6 with a zone). Throws for a non-address. */
export function classifyAddress(address: string): AddressClassification {
  const bare = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const family = isIP(bare);
  if (family === 4) {
    for (const [cls, list] of IPV4_CLASSES)
      if (list.check(bare, 'ipv4')) return { class: cls, address: bare, family };
    return { class: 'public', address: bare, family };
  }
  if (family === 6) {
    const v4 = embeddedIpv4(bare);
    if (v4 !== undefined) return classifyAddress(v4);
    for (const [cls, list] of IPV6_CLASSES)
      if (list.check(bare, 'ipv6')) return { class: cls, address: bare, family };
    if (!IPV6_GLOBAL.check(bare, 'ipv6')) return { class: 'reserved', address: bare, family };
    return { class: 'public', address: bare, family };
  }
  throw new Error(`not an IP address: ${address}`);
}

/** Thrown (and passed to the HTTP request by the lookup) when a target is refused. */
export class SsrfRefusedError extends Error {
  override readonly name = 'SsrfRefusedError';
  readonly code = 'ERR_SMAD_SSRF_REFUSED';
}

export function isSsrfRefusedError(err: unknown): err is SsrfRefusedError {
  return (
    err instanceof SsrfRefusedError ||
    (typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'ERR_SMAD_SSRF_REFUSED')
  );
}

export interface SsrfPolicy {
  /** Allow every address (webhooks.allowPrivateNetworks). */
  allowPrivateNetworks: boolean;
  /** Host names (exact, case-insensitive), IP addresses or CIDRs allowed even though not public. */
  allowList: readonly string[];
}

/** Resolves a host name to all its addresses (dns.lookup by default; injectable for tests). */
export type Resolver = (hostname: string, family: 0 | 4 | 6) => Promise<LookupAddress[]>;

const systemResolver: Resolver = (hostname, family) =>
  new Promise((resolve, reject) => {
    dnsLookup(hostname, { all: true, family, verbatim: true }, (err, addresses) =>
      err ? reject(err) : resolve(addresses),
    );
  });

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

function normalizeHost(host: string): string {
  return host
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '')
    .toLowerCase();
}

/** Applies the SSRF policy to URLs and resolved addresses. */
export class SsrfGuard {
  private readonly hosts = new Set<string>();
  private readonly allowed = new BlockList();
  private readonly resolver: Resolver;

  /** Throws for an allowList entry that is a malformed CIDR. */
  constructor(
    private readonly policy: SsrfPolicy,
    resolver?: Resolver,
  ) {
    this.resolver = resolver ?? systemResolver;
    for (const raw of policy.allowList) {
      const entry = raw.trim();
      if (entry === '') continue;
      const slash = entry.indexOf('/');
      if (slash >= 0) {
        const network = normalizeHost(entry.slice(0, slash));
        const prefix = Number(entry.slice(slash + 1));
        const family = isIP(network);
        if (family === 0 || !Number.isInteger(prefix) || prefix < 0 || prefix > (family === 4 ? 32 : 128))
          throw new Error(`webhooks.allowList: "${entry}" is not a valid CIDR`);
        this.allowed.addSubnet(network, prefix, family === 4 ? 'ipv4' : 'ipv6');
      } else {
        const host = normalizeHost(entry);
        const family = isIP(host);
        if (family !== 0) this.allowed.addAddress(host, family === 4 ? 'ipv4' : 'ipv6');
        else this.hosts.add(host);
      }
    }
  }

  /** Whether the host name itself is on the allow list (then any address it resolves to is allowed). */
  hostAllowed(hostname: string): boolean {
    return this.policy.allowPrivateNetworks || this.hosts.has(normalizeHost(hostname));
  }

  /** Why connecting to `address` for `hostname` is refused, or undefined when it is allowed. */
  checkAddress(hostname: string, address: string): string | undefined {
    if (this.hostAllowed(hostname)) return undefined;
    let classified: AddressClassification;
    try {
      classified = classifyAddress(address);
    } catch {
      return `${hostname} resolved to something that is not an IP address (${address})`;
    }
    if (classified.class === 'public') return undefined;
    const bare = normalizeHost(address);
    const family = isIP(bare) === 4 ? 'ipv4' : 'ipv6';
    if (this.allowed.check(bare, family)) return undefined;
    if (classified.address !== bare && this.allowed.check(classified.address, 'ipv4')) return undefined;
    const via = normalizeHost(hostname) === bare ? '' : ` (resolved from ${hostname})`;
    return `${bare}${via} is ${CLASS_LABEL[classified.class]}; allow it with webhooks.allowPrivateNetworks or webhooks.allowList`;
  }

  /**
   * Checks what can be checked without DNS: the scheme, and the host when it is an IP
   * literal (node connects to those without calling `lookup`). Undefined when allowed so far.
   */
  checkUrl(url: URL): string | undefined {
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      return `only http and https webhook URLs are delivered (was ${url.protocol})`;
    const host = normalizeHost(url.hostname);
    if (host === '') return 'the webhook URL has no host';
    if (isIP(host) !== 0) return this.checkAddress(host, host);
    return undefined;
  }

  /**
   * A `lookup` for node:net / node:http: resolves every address of the host, refuses the
   * connection (SsrfRefusedError) if any of them is not allowed, and otherwise hands the
   * addresses to the socket, which connects only to these.
   */
  readonly lookup = (hostname: string, options: LookupOptions | number, callback: LookupCallback): void => {
    const opts: LookupOptions = typeof options === 'number' ? { family: options } : (options ?? {});
    const family = opts.family === 4 || opts.family === 6 ? opts.family : 0;
    this.resolver(hostname, family).then(
      (addresses) => {
        if (addresses.length === 0) {
          const err: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${hostname}`);
          err.code = 'ENOTFOUND';
          callback(err, '', 0);
          return;
        }
        for (const { address } of addresses) {
          const reason = this.checkAddress(hostname, address);
          if (reason !== undefined) {
            callback(new SsrfRefusedError(reason), '', 0);
            return;
          }
        }
        if (opts.all) {
          callback(null, addresses);
        } else {
          const first = addresses[0] as LookupAddress;
          callback(null, first.address, first.family);
        }
      },
      (err: NodeJS.ErrnoException) => callback(err, '', 0),
    );
  };
}
