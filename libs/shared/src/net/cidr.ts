import { isIPv4, isIPv6 } from 'node:net';

/**
 * IP addresses and CIDR ranges as bytes (4 for IPv4, 16 for IPv6).
 *
 * IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are the same host as
 * `a.b.c.d`: a matcher tests an address in both forms, so `10.0.0.0/8`
 * matches `::ffff:10.1.2.3` and `::ffff:0:0/96` matches `10.1.2.3`.
 */

export type IpFamily = 4 | 6;

export interface Cidr {
  family: IpFamily;
  /** Network address with host bits cleared: 4 or 16 bytes. */
  bytes: Uint8Array;
  /** Prefix length: 0..32 or 0..128. */
  prefix: number;
  /** Canonical text, `network/prefix`. */
  text: string;
}

const MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff] as const;

function parseV4(s: string): Uint8Array | undefined {
  if (!isIPv4(s)) return undefined;
  return Uint8Array.from(s.split('.').map(Number));
}

function parseV6(s: string): Uint8Array | undefined {
  if (!isIPv6(s)) return undefined;
  let text = s;
  const out = new Uint8Array(16);
  // A trailing dotted quad fills the last 32 bits.
  let tail: Uint8Array | undefined;
  const lastColon = text.lastIndexOf(':');
  if (text.indexOf('.', lastColon) !== -1) {
    tail = parseV4(text.slice(lastColon + 1));
    if (!tail) return undefined;
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] === '' ? [] : (halves[0] ?? '').split(':');
  const rest = halves.length === 2 ? (halves[1] === '' ? [] : (halves[1] ?? '').split(':')) : [];
  const groups = halves.length === 2 ? [...head, ...new Array<string>(8 - head.length - rest.length).fill('0'), ...rest] : head;
  if (groups.length !== 8) return undefined;
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  });
  if (tail) out.set(tail, 12);
  return out;
}

/**
 * Bytes of an IP address (4 or 16), or undefined if `s` is not one. A zone
 * suffix (`fe80::1%eth0`) is dropped: zones do not change which range matches.
 */
export function parseIp(s: string): Uint8Array | undefined {
  const t = s.trim();
  const pct = t.indexOf('%');
  const bare = pct === -1 ? t : t.slice(0, pct);
  return parseV4(bare) ?? parseV6(bare);
}

export function isIp(s: string): boolean {
  return parseIp(s) !== undefined;
}

function isMapped(b: Uint8Array): boolean {
  return b.length === 16 && MAPPED_PREFIX.every((v, i) => b[i] === v);
}

function formatV4(b: Uint8Array): string {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

/** RFC 5952 text: lower case, longest run (>1) of zero groups as `::`. */
function formatV6(b: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i] ?? 0) << 8) | (b[i + 1] ?? 0));
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart === -1) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** Text of 4 or 16 address bytes; IPv4-mapped IPv6 as `::ffff:a.b.c.d`. */
export function formatIp(b: Uint8Array): string {
  if (b.length === 4) return formatV4(b);
  if (isMapped(b)) return `::ffff:${formatV4(b.subarray(12))}`;
  return formatV6(b);
}

/**
 * The canonical text of an address: IPv4-mapped IPv6 as plain IPv4, IPv6 in
 * RFC 5952 form. Text that is not an address is returned unchanged.
 */
export function normalizeIp(ip: string): string {
  const b = parseIp(ip);
  if (!b) return ip;
  if (b.length === 16 && isMapped(b)) return formatV4(b.subarray(12));
  return b.length === 4 ? formatV4(b) : formatV6(b);
}

function maskInPlace(b: Uint8Array, prefix: number): void {
  for (let i = 0; i < b.length; i++) {
    const bits = Math.max(0, Math.min(8, prefix - i * 8));
    b[i] = (b[i] ?? 0) & ((0xff << (8 - bits)) & 0xff);
  }
}

/**
 * The unit a per-client cap counts: an IPv4 address (IPv4-mapped IPv6 as
 * IPv4), or the network of an IPv6 address (`v6Prefix`, default /64), as one
 * subscriber commonly holds a whole /64 and could rotate through it. Text
 * that is not an address is returned unchanged.
 */
export function clientAddressKey(ip: string, v6Prefix = 64): string {
  const b = parseIp(ip);
  if (!b) return ip;
  if (b.length === 4 || isMapped(b)) return normalizeIp(ip);
  maskInPlace(b, v6Prefix);
  return `${formatV6(b)}/${v6Prefix}`;
}

/**
 * Parses `address/prefix` (a bare address means a single host). Host bits
 * are cleared. Throws a TypeError naming the input when it is not a CIDR.
 */
export function parseCidr(s: string): Cidr {
  const t = s.trim();
  const slash = t.indexOf('/');
  const addr = slash === -1 ? t : t.slice(0, slash);
  const bytes = addr.includes('%') ? undefined : parseIp(addr);
  if (!bytes) throw new TypeError(`not a CIDR: "${s}"`);
  const max = bytes.length * 8;
  let prefix = max;
  if (slash !== -1) {
    const p = t.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > max) throw new TypeError(`not a CIDR: "${s}"`);
    prefix = Number(p);
  }
  maskInPlace(bytes, prefix);
  const family: IpFamily = bytes.length === 4 ? 4 : 6;
  return { family, bytes, prefix, text: `${formatIp(bytes)}/${prefix}` };
}

/** First and last address of a range, as text (for configs that take `a-b` ranges, e.g. coturn). */
export function cidrRange(c: Cidr): [first: string, last: string] {
  const last = Uint8Array.from(c.bytes);
  for (let i = 0; i < last.length; i++) {
    const bits = Math.max(0, Math.min(8, c.prefix - i * 8));
    last[i] = (last[i] ?? 0) | (0xff >> bits);
  }
  return [formatIp(c.bytes), formatIp(last)];
}

function inCidr(b: Uint8Array, c: Cidr): boolean {
  const full = c.prefix >> 3;
  for (let i = 0; i < full; i++) if (b[i] !== c.bytes[i]) return false;
  const rem = c.prefix & 7;
  if (rem === 0) return true;
  const mask = (0xff << (8 - rem)) & 0xff;
  return ((b[full] ?? 0) & mask) === c.bytes[full];
}

/**
 * A predicate "is this address inside one of these ranges". Throws at build
 * time for an invalid CIDR; answers false for text that is not an address.
 */
export function createCidrMatcher(cidrs: readonly string[]): (ip: string) => boolean {
  const parsed = cidrs.map(parseCidr);
  const v4 = parsed.filter((c) => c.family === 4);
  const v6 = parsed.filter((c) => c.family === 6);
  return (ip: string): boolean => {
    const b = parseIp(ip);
    if (!b) return false;
    let b4: Uint8Array | undefined;
    let b16: Uint8Array;
    if (b.length === 4) {
      b4 = b;
      b16 = new Uint8Array(16);
      b16.set(MAPPED_PREFIX);
      b16.set(b, 12);
    } else {
      b16 = b;
      if (isMapped(b)) b4 = b.subarray(12);
    }
    if (b4 && v4.some((c) => inCidr(b4, c))) return true;
    return v6.some((c) => inCidr(b16, c));
  };
}

/** The IPv4-mapped IPv6 form (`::ffff:a.b.c.d/96+n`) of an IPv4 range, for matchers that do not map (coturn). */
export function mappedCidr(c: Cidr): Cidr {
  if (c.family !== 4) throw new TypeError(`not an IPv4 range: ${c.text}`);
  return parseCidr(`::ffff:${formatV4(c.bytes)}/${96 + c.prefix}`);
}

const SPECIAL_V4 = [
  '0.0.0.0/8', // "this network", includes the unspecified address
  '10.0.0.0/8', // RFC 1918
  '100.64.0.0/10', // carrier-grade NAT
  '127.0.0.0/8', // loopback
  '169.254.0.0/16', // link-local
  '172.16.0.0/12', // RFC 1918
  '192.0.0.0/24', // IETF protocol assignments
  '192.0.2.0/24', // TEST-NET-1
  '192.88.99.0/24', // deprecated 6to4 relay anycast
  '192.168.0.0/16', // RFC 1918
  '198.18.0.0/15', // benchmarking
  '198.51.100.0/24', // TEST-NET-2
  '203.0.113.0/24', // TEST-NET-3
  '224.0.0.0/4', // multicast
  '240.0.0.0/4', // reserved, includes broadcast 255.255.255.255
] as const;

const SPECIAL_V6 = [
  // Unspecified, loopback and the deprecated IPv4-compatible ::a.b.c.d (RFC 4291): a stack may
  // still route ::127.0.0.1 to the IPv4 host.
  '::/96',
  '::1/128', // loopback (inside ::/96; listed for readers)
  // IPv4-translated (SIIT, RFC 2765) ::ffff:0:a.b.c.d: no real peer uses it, and a translator would
  // reach the embedded IPv4 address, private ones included. (IPv4-mapped ::ffff:a.b.c.d is judged
  // as its IPv4 address: see the mapped forms below and createCidrMatcher.)
  '::ffff:0:0:0/96',
  '64:ff9b::/96', // NAT64: embeds IPv4 addresses, private ones included
  '64:ff9b:1::/48', // local-use NAT64
  '100::/64', // discard-only
  '2001::/23', // IETF protocol assignments (Teredo, benchmarking 2001:2::/48, ORCHID)
  '2001:db8::/32', // documentation
  '2002::/16', // 6to4: embeds IPv4 addresses
  '3fff::/20', // documentation (RFC 9637)
  '5f00::/16', // SRv6 SIDs (RFC 9602): not host addresses
  'fc00::/7', // unique local
  'fe80::/10', // link-local
  'fec0::/10', // site-local (deprecated by RFC 3879, still routed inside some networks)
  'ff00::/8', // multicast
] as const;

/**
 * Ranges a relay or prober must never reach on a stranger's behalf: IANA
 * special-purpose, private, loopback, link-local, multicast, documentation
 * and benchmarking ranges, and the IPv4-mapped IPv6 forms of the IPv4 ones
 * (listed explicitly for consumers such as coturn's `denied-peer-ip`).
 */
export const SPECIAL_PURPOSE_CIDRS: readonly string[] = Object.freeze([
  ...SPECIAL_V4,
  ...SPECIAL_V6,
  ...SPECIAL_V4.map((c) => mappedCidr(parseCidr(c)).text),
]);

const specialMatcher = createCidrMatcher(SPECIAL_PURPOSE_CIDRS);

/** True for an address in SPECIAL_PURPOSE_CIDRS, and for text that is not an address. */
export function isSpecialPurposeIp(ip: string): boolean {
  return !isIp(ip) || specialMatcher(ip);
}
