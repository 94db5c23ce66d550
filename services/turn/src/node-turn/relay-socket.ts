import { randomInt } from 'node:crypto';
import { lookup } from 'node:dns';
import { createSocket, type Socket, type SocketOptions } from 'node:dgram';
import { isIP, isIPv6 } from 'node:net';

const ATTEMPTS = 32;

/**
 * dgram's `lookup` for our sockets: an IP literal (every relayed packet's destination) is answered at
 * once; dns.lookup answers even a literal through process.nextTick, a deferral and closure per packet
 * sent. Names (a configured listen host) still go through dns.lookup.
 */
export const literalLookup: NonNullable<SocketOptions['lookup']> = (address, options, callback) => {
  const family = isIP(address);
  if (family !== 0) callback(null, address, family);
  else lookup(address, options, callback);
};

/**
 * Binds a relay socket on a random port of [min, max], even when `even`
 * (EVEN-PORT). Defect fixed: node-turn's EVEN-PORT path bound the client's
 * own source port number, whatever its parity or range.
 */
export async function bindRelaySocket(host: string, min: number, max: number, even: boolean): Promise<Socket> {
  for (let i = 0; i < ATTEMPTS; i++) {
    let port = randomInt(min, max + 1);
    if (even && port % 2 === 1) port = port + 1 <= max ? port + 1 : port - 1;
    if (port < min) continue;
    const sock = await tryBind(host, port);
    if (sock) return sock;
  }
  throw new Error('no free relay port');
}

/** EVEN-PORT with the R bit: an even port N and N+1, the second kept for a later RESERVATION-TOKEN. */
export async function bindRelayPair(host: string, min: number, max: number): Promise<[Socket, Socket]> {
  for (let i = 0; i < ATTEMPTS; i++) {
    const even = await bindRelaySocket(host, min, max - 1, true);
    const next = await tryBind(host, even.address().port + 1);
    if (next) return [even, next];
    even.close();
  }
  throw new Error('no free relay port pair');
}

async function tryBind(host: string, port: number): Promise<Socket | undefined> {
  const sock = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4', ipv6Only: false, lookup: literalLookup });
  const ok = await new Promise<boolean>((resolve) => {
    sock.once('error', () => resolve(false));
    sock.bind({ address: host, port, exclusive: true }, () => resolve(true));
  });
  if (ok) {
    sock.removeAllListeners('error');
    return sock;
  }
  sock.close();
  return undefined;
}
