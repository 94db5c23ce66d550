import { connect, type Socket } from 'node:net';

/**
 * An SSE stream over a raw socket, as a cheap client: HTTP/1.0, so the body
 * comes unchunked and lines can be read straight off the wire. Resolves at
 * the first `event: price`, which PROTOCOL.md makes the sign that the stream
 * is live (a post made earlier may not reach it); `onData` gets the `data:`
 * value of each message event, not of price events (none when omitted: the
 * stream is only held open).
 */
export function openStream(port: number, path: string, onData?: (data: string) => void): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    let buf = '';
    let headersDone = false;
    let live = false;
    let event = '';
    sock.setEncoding('utf8');
    sock.once('error', reject);
    sock.once('close', () => { if (!live) reject(new Error(`stream closed before it was live: ${path}`)); });
    sock.on('connect', () => sock.write(`GET ${path} HTTP/1.0\r\nAccept: text/event-stream\r\n\r\n`));
    sock.on('data', (chunk: string) => {
      if (live && onData === undefined) return;
      buf += chunk;
      if (!headersDone) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        if (!buf.startsWith('HTTP/1.1 200')) {
          sock.destroy();
          reject(new Error(`stream refused: ${buf.split('\r\n')[0]}`));
          return;
        }
        headersDone = true;
        buf = buf.slice(end + 4);
      }
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line === '') event = '';
        else if (line.startsWith('event: ')) {
          event = line.slice(7);
          if (event === 'price' && !live) {
            live = true;
            resolve(sock);
            if (onData === undefined) {
              buf = '';
              return;
            }
          }
        } else if (line.startsWith('data: ') && event === '') onData?.(line.slice(6));
      }
    });
  });
}

/** Opens `n` things `batch` at a time (a burst of 10 000 connects overflows the accept queue). */
export async function openMany<T>(n: number, open: (i: number) => Promise<T>, batch = 200): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i += batch) {
    out.push(...await Promise.all(Array.from({ length: Math.min(batch, n - i) }, (_, j) => open(i + j))));
  }
  return out;
}
