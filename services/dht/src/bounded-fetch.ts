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
 * private, link-local, ...) unless `allowSpecial`, checked on the resolved
 * address so a DNS name cannot point us inside.
 */
export interface BoundedFetchOptions {
  timeoutMs: number;
  maxBytes: number;
  allowSpecial: boolean;
  /**
   * Skip TLS certificate checks: only for the first contact with a bare
   * `ip:port` from the DHT, which no certificate names. What we keep is
   * confirmed later over a checked connection to the node's own URL.
   */
  insecureTls?: boolean;
}

export type FetchFailure = 'special_address' | 'unreachable' | 'timeout' | 'too_large' | 'bad_status' | 'not_json';

export type FetchJsonResult = { ok: true; body: unknown } | { ok: false; reason: FetchFailure; detail?: string };

class SpecialAddressError extends Error {
  constructor(address: string) {
    super(`refusing special-purpose address ${address}`);
  }
}

/** dns.lookup that refuses any special-purpose address among the results. */
function guardedLookup(): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
      if (err) return callback(err, '', 4);
      const bad = addresses.find((a) => isSpecialPurposeIp(a.address));
      if (bad !== undefined || addresses.length === 0) {
        return callback(new SpecialAddressError(bad?.address ?? hostname), '', 4);
      }
      if (options.all === true) {
        (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
      } else {
        const first = addresses[0] as LookupAddress;
        callback(null, first.address, first.family);
      }
    });
  };
}

export function fetchJson(url: URL, opts: BoundedFetchOptions): Promise<FetchJsonResult> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (!opts.allowSpecial && isIP(host) !== 0 && isSpecialPurposeIp(host)) {
    return Promise.resolve({ ok: false, reason: 'special_address', detail: host });
  }
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;

  return new Promise((resolve) => {
    let settled = false;
    const finish = (result: FetchJsonResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      req.destroy();
      resolve(result);
    };

    const req = request(url, {
      method: 'GET',
      headers: { accept: 'application/json', 'user-agent': 'mesh-node-probe' },
      agent: false,
      ...(opts.allowSpecial ? {} : { lookup: guardedLookup() }),
      ...(url.protocol === 'https:' ? { rejectUnauthorized: opts.insecureTls !== true } : {}),
    });
    const deadline = setTimeout(() => finish({ ok: false, reason: 'timeout' }), opts.timeoutMs);

    req.on('error', (err: Error) => {
      const special = err instanceof SpecialAddressError || err.cause instanceof SpecialAddressError;
      finish({ ok: false, reason: special ? 'special_address' : 'unreachable', detail: err.message });
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
