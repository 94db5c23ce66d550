import { connect, type Socket } from 'node:net';

/**
 * An SSE stream over a raw socket, as a cheap client: HTTP/1.0, so the body
 * comes unchunked and `data:` lines can be read straight off the wire.
 * Resolves once the 200 headers are in; `onData` gets each `data:` line's
 * value (none when omitted: the stream is only held open).
 */
export function openStream(port: number, path: string, onData?: (data: string) => void): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    let buf = '';
    let headersDone = false;
    sock.setEncoding('utf8');
    sock.once('error', reject);
    sock.on('connect', () => sock.write(`GET ${path} HTTP/1.0\r\nAccept: text/event-stream\r\n\r\n`));
    sock.on('data', (chunk: string) => {
      if (!headersDone) {
        buf += chunk;
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        if (!buf.startsWith('HTTP/1.1 200')) {
          sock.destroy();
          reject(new Error(`stream refused: ${buf.split('\r\n')[0]}`));
          return;
        }
        headersDone = true;
        buf = buf.slice(end + 4);
        resolve(sock);
        if (onData === undefined) {
          buf = '';
          return;
        }
      } else if (onData === undefined) return;
      else buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith('data: ')) onData(line.slice(6));
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
