import type { LookupAddress } from 'node:dns';
import { describe, expect, it } from 'vitest';
import {
  type AddressClass,
  classifyAddress,
  embeddedIpv4,
  type Resolver,
  SsrfGuard,
  SsrfRefusedError,
} from '../../src/webhooks/ssrf-guard.js';

const cases: [string, AddressClass][] = [
  // IPv4
  ['127.0.0.1', 'loopback'],
  ['127.255.255.254', 'loopback'],
  ['10.0.0.1', 'private'],
  ['172.16.0.1', 'private'],
  ['172.31.255.255', 'private'],
  ['172.32.0.1', 'public'],
  ['192.168.1.1', 'private'],
  ['100.64.0.1', 'shared'],
  ['100.127.255.255', 'shared'],
  ['100.128.0.1', 'public'],
  ['169.254.169.254', 'link-local'],
  ['169.254.0.1', 'link-local'],
  ['0.0.0.0', 'unspecified'],
  ['0.1.2.3', 'unspecified'],
  ['224.0.0.1', 'multicast'],
  ['239.255.255.250', 'multicast'],
  ['255.255.255.255', 'broadcast'],
  ['240.0.0.1', 'reserved'],
  ['192.0.2.10', 'reserved'],
  ['198.18.0.1', 'reserved'],
  ['8.8.8.8', 'public'],
  ['93.184.216.34', 'public'],
  // IPv6
  ['::1', 'loopback'],
  ['[::1]', 'loopback'],
  ['::', 'unspecified'],
  ['fe80::1', 'link-local'],
  ['fe80::1%eth0', 'link-local'],
  ['febf::1', 'link-local'],
  ['fc00::1', 'private'],
  ['fd12:3456:789a::1', 'private'],
  ['ff02::1', 'multicast'],
  ['2001:db8::1', 'reserved'],
  ['::2', 'reserved'],
  ['2606:4700:4700::1111', 'public'],
  ['2a00:1450:4001:80b::200e', 'public'],
  // IPv4 embedded in IPv6: classified by the IPv4 address
  ['::ffff:127.0.0.1', 'loopback'],
  ['::ffff:7f00:1', 'loopback'],
  ['0:0:0:0:0:ffff:7f00:0001', 'loopback'],
  ['::ffff:169.254.169.254', 'link-local'],
  ['::ffff:a9fe:a9fe', 'link-local'],
  ['::ffff:10.0.0.1', 'private'],
  ['::ffff:0.0.0.0', 'unspecified'],
  ['::ffff:8.8.8.8', 'public'],
  ['::ffff:0:127.0.0.1', 'loopback'],
  ['64:ff9b::7f00:1', 'loopback'],
  ['64:ff9b::8.8.8.8', 'public'],
  ['2002:7f00:1::', 'loopback'],
  ['2002:a9fe:a9fe::1', 'link-local'],
  ['2002:0808:0808::1', 'public'],
];

describe('address classification', () => {
  it.each(cases)('%s is %s', (address, expected) => {
    expect(classifyAddress(address).class).toBe(expected);
  });

  it('extracts the IPv4 address of mapped, NAT64 and 6to4 forms', () => {
    expect(embeddedIpv4('::ffff:7f00:1')).toBe('127.0.0.1');
    expect(embeddedIpv4('64:ff9b::a9fe:a9fe')).toBe('169.254.169.254');
    expect(embeddedIpv4('2002:0a00:0001::')).toBe('10.0.0.1');
    expect(embeddedIpv4('2606:4700::1')).toBeUndefined();
    expect(embeddedIpv4('127.0.0.1')).toBeUndefined();
  });

  it('throws for something that is not an address', () => {
    expect(() => classifyAddress('localhost')).toThrow();
    expect(() => classifyAddress('1.2.3')).toThrow();
  });
});

function fakeResolver(table: Record<string, string[]>): Resolver {
  return async (hostname) => {
    const addresses = table[hostname];
    if (!addresses)
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return addresses.map((address): LookupAddress => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
}

function lookup(guard: SsrfGuard, hostname: string, all = true) {
  return new Promise<{ err: Error | null; address: unknown; family?: number }>((resolve) => {
    guard.lookup(hostname, { all }, (err, address, family) => resolve({ err, address, family }));
  });
}

const DEFAULT_POLICY = { allowPrivateNetworks: false, allowList: [] as string[] };

describe('SSRF guard', () => {
  const resolver = fakeResolver({
    'hooks.example.com': ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946'],
    'rebind.example.com': ['93.184.216.34', '127.0.0.1'],
    'metadata.example.com': ['169.254.169.254'],
    'internal.example.com': ['10.1.2.3'],
    'mapped.example.com': ['::ffff:127.0.0.1'],
  });

  it('refuses IP-literal URLs of non-public addresses before any lookup', () => {
    const guard = new SsrfGuard(DEFAULT_POLICY, resolver);
    for (const url of [
      'http://127.0.0.1:8080/x',
      'http://169.254.169.254/latest/meta-data/',
      'http://10.0.0.1/',
      'http://[::1]:9000/',
      'http://0.0.0.0/',
      'http://[::ffff:127.0.0.1]/',
      'http://2130706433/', // 127.0.0.1 as a number; the URL parser normalises it
      'http://0x7f.1/',
    ]) {
      expect(guard.checkUrl(new URL(url)), url).toMatch(/allow it with webhooks/);
    }
    expect(guard.checkUrl(new URL('https://93.184.216.34/hook'))).toBeUndefined();
    expect(guard.checkUrl(new URL('https://hooks.example.com/hook'))).toBeUndefined();
    expect(guard.checkUrl(new URL('ftp://hooks.example.com/hook'))).toMatch(/only http and https/);
  });

  it('hands public addresses to the socket, in both lookup forms', async () => {
    const guard = new SsrfGuard(DEFAULT_POLICY, resolver);
    const all = await lookup(guard, 'hooks.example.com', true);
    expect(all.err).toBeNull();
    expect(all.address).toHaveLength(2);
    const one = await lookup(guard, 'hooks.example.com', false);
    expect(one).toEqual({ err: null, address: '93.184.216.34', family: 4 });
  });

  it('refuses a host if any of its addresses is not allowed (no rebinding gap)', async () => {
    const guard = new SsrfGuard(DEFAULT_POLICY, resolver);
    for (const host of [
      'rebind.example.com',
      'metadata.example.com',
      'internal.example.com',
      'mapped.example.com',
    ]) {
      const { err } = await lookup(guard, host);
      expect(err, host).toBeInstanceOf(SsrfRefusedError);
      expect(err?.message).toContain(`resolved from ${host}`);
    }
  });

  it('refuses localhost through the real resolver', async () => {
    const { err } = await lookup(new SsrfGuard(DEFAULT_POLICY), 'localhost');
    expect(err).toBeInstanceOf(SsrfRefusedError);
    expect(err?.message).toMatch(/loopback/);
  });

  it('passes DNS errors through', async () => {
    const { err } = await lookup(new SsrfGuard(DEFAULT_POLICY, resolver), 'nowhere.example.com');
    expect((err as NodeJS.ErrnoException).code).toBe('ENOTFOUND');
  });

  it('allows everything with allowPrivateNetworks', async () => {
    const guard = new SsrfGuard({ allowPrivateNetworks: true, allowList: [] }, resolver);
    expect(guard.checkUrl(new URL('http://127.0.0.1/'))).toBeUndefined();
    expect((await lookup(guard, 'metadata.example.com')).err).toBeNull();
  });

  it('allows CIDRs, single addresses and exact host names from the allow list', async () => {
    const guard = new SsrfGuard(
      {
        allowPrivateNetworks: false,
        allowList: ['10.1.0.0/16', '::1', 'Metadata.Example.com', '127.0.0.1/32'],
      },
      resolver,
    );
    expect((await lookup(guard, 'internal.example.com')).err).toBeNull();
    expect((await lookup(guard, 'metadata.example.com')).err).toBeNull();
    expect((await lookup(guard, 'mapped.example.com')).err).toBeNull(); // ::ffff:127.0.0.1 is 127.0.0.1
    expect(guard.checkUrl(new URL('http://[::1]:8080/'))).toBeUndefined();
    expect(guard.checkUrl(new URL('http://127.0.0.1:8080/'))).toBeUndefined();
    expect(guard.checkUrl(new URL('http://10.2.0.1/'))).toMatch(/private/);
    expect(guard.checkUrl(new URL('http://169.254.169.254/'))).toMatch(/link-local/);
  });

  it('rejects a malformed CIDR in the allow list', () => {
    expect(() => new SsrfGuard({ allowPrivateNetworks: false, allowList: ['10.0.0.0/33'] })).toThrow(/CIDR/);
    expect(() => new SsrfGuard({ allowPrivateNetworks: false, allowList: ['nothing/8'] })).toThrow(/CIDR/);
  });
});
