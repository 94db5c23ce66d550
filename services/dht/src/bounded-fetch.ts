import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { isSpecialPurposeIp } from '@mesh/shared';

/**
 * GET of a stranger's URL that costs us little whatever the stranger does:
 * one deadline for the whole exchange (a peer that drips bytes is cut like
 * one that never answers), a hard cap on body bytes (the socket is destroyed
 * past it, so a peer answering gigabytes costs `maxBytes`), no redirects, no
 * keep-alive, and no connection to special-purpose addresses (loopback,
 * private, link-local, ...) unless `allowed` accepts them, checked on the
 * address we connect to so a DNS name cannot point us inside.
 */
export interface BoundedFetchOptions {
  timeoutMs: number;
  /** Extra request headers. */
  headers?: Record<string, string>;
  maxBytes: number;
  /**
   * Special-purpose addresses this accepts are reached anyway (the
   * operator's MESH_ALLOWED_PEERS); without it none is.
   */
  allowed?: (ip: string) => boolean;
  /**
   * Connect to this address whatever the URL's host name resolves to now:
   * the caller checked the name once and pins what it checked, so a DNS
   * rebind between check and connect cannot send us elsewhere. TLS (SNI,
   * certificate) and the Host header still name the URL's host.
   */
  address?: string;
  /**
   * Skip TLS certificate checks: only for the first contact with a bare
   * `ip:port` from the DHT, which no certificate names. What we keep is
   * confirmed later over a checked connection to the node's own URL.
   */
  insecureTls?: boolean;
}

/**
 * `refused`: nothing listens there (ECONNREFUSED); `not_http`: something
 * took the connection but did not answer HTTP (reset, hang-up, garbage, as a
 * TLS server does to plain HTTP); `unreachable`: any other transport error.
 */
export type FetchFailure =
  | 'special_address' | 'refused' | 'not_http' | 'unreachable' | 'timeout' | 'too_large' | 'bad_status' | 'not_json';

export type FetchJsonResult = { ok: true; body: unknown } | { ok: false; reason: FetchFailure; detail?: string };

class SpecialAddressError extends Error {
  constructor(address: string) {
    super(`refusing special-purpose address ${address}`);
  }
}

/** Special-purpose and not exempted by the operator. */
function forbidden(ip: string, allowed: ((ip: string) => boolean) | undefined): boolean {
  return isSpecialPurposeIp(ip) && allowed?.(ip) !== true;
}

/** A lookup that answers `addresses` (the pinned one, or dns.lookup's) unless one of them is forbidden. */
function guardedLookup(allowed: ((ip: string) => boolean) | undefined, pinned: string | undefined): LookupFunction {
  return (hostname, options, callback) => {
    const answer = (addresses: LookupAddress[]): void => {
      const bad = addresses.find((a) => forbidden(a.address, allowed));
      if (bad !== undefined || addresses.length === 0) {
        return callback(new SpecialAddressError(bad?.address ?? hostname), '', 4);
      }
      if (options.all === true) {
        (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
      } else {
        const first = addresses[0] as LookupAddress;
        callback(null, first.address, first.family);
      }
    };
    if (pinned !== undefined) {
      answer([{ address: pinned, family: isIP(pinned) === 6 ? 6 : 4 }]);
      return;
    }
    dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
      if (err) return callback(err, '', 4);
      answer(addresses);
    });
  };
}

function errorCodes(err: Error): string[] {
  const own = (err as NodeJS.ErrnoException).code;
  // Happy-eyeballs connects fail with an AggregateError of one error per address.
  const inner = err instanceof AggregateError ? err.errors.flatMap((e: unknown) => (e instanceof Error ? errorCodes(e) : [])) : [];
  return [...(own === undefined ? [] : [own]), ...inner];
}

export function fetchJson(url: URL, opts: BoundedFetchOptions): Promise<FetchJsonResult> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const target = opts.address ?? (isIP(host) !== 0 ? host : undefined);
  if (target !== undefined && (isIP(target) === 0 || forbidden(target, opts.allowed))) {
    return Promise.resolve({ ok: false, reason: 'special_address', detail: target });
  }
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;

  return new Promise((resolve) => {
    let settled = false;
    let connected = false;
    const finish = (result: FetchJsonResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      req.destroy();
      resolve(result);
    };

    const req = request(url, {
      method: 'GET',
      headers: { accept: 'application/json', 'user-agent': 'mesh-node-probe', ...opts.headers },
      agent: false,
      // An IP literal is checked above and needs no lookup; a name gets the guarded (or pinned) one.
      lookup: guardedLookup(opts.allowed, opts.address),
      ...(url.protocol === 'https:' ? { rejectUnauthorized: opts.insecureTls !== true } : {}),
    });
    const deadline = setTimeout(() => finish({ ok: false, reason: 'timeout' }), opts.timeoutMs);
    // TCP connect, before any TLS: what tells "nothing there" from "something that is not HTTP".
    req.on('socket', (sock) => sock.once('connect', () => { connected = true; }));

    req.on('error', (err: Error) => {
      const special = err instanceof SpecialAddressError || err.cause instanceof SpecialAddressError;
      let reason: FetchFailure = 'unreachable';
      if (special) reason = 'special_address';
      else if (connected) reason = 'not_http';
      else if (errorCodes(err).includes('ECONNREFUSED')) reason = 'refused';
      finish({ ok: false, reason, detail: err.message });
    });
    req.on('response', (res: IncomingMessage) => {
      if (res.statusCode !== 200) {
        finish({ ok: false, reason: 'bad_status', detail: String(res.statusCode) });
        return;
      }
      const declared = Number(res.headers['content-length']);
      if (Number.isFinite(declared) && declared > opts.maxBytes) {
        finish({ ok: false, reason: 'too_large', detail: `content-length ${declared}` });
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > opts.maxBytes) {
          finish({ ok: false, reason: 'too_large' });
          return;
        }
        chunks.push(chunk);
      });
      res.on('error', (err: Error) => finish({ ok: false, reason: 'unreachable', detail: err.message }));
      res.on('end', () => {
        try {
          finish({ ok: true, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown });
        } catch {
          finish({ ok: false, reason: 'not_json' });
        }
      });
    });
    req.end();
  });
}
