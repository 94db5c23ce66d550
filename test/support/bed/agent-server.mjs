// Runs inside a host of the test bed and fetches for the test, which lives
// outside every namespace of the bed and reaches the agent over a Unix
// socket (the filesystem is shared, the network is not).
// Usage: node agent.mjs <socket path>; prints "ready" once it listens.
//   POST / {"url": "http://25.0.0.11:8080/nodes", "method"?, "headers"?, "body"?, "timeoutMs"?}
//   -> 200 {"status": 200, "body": <JSON or text>} | 200 {"error": "..."}
import { createServer, request } from 'node:http';
import { rmSync } from 'node:fs';

const socketPath = process.argv[2];
rmSync(socketPath, { force: true });

function get(q) {
  return new Promise((resolve, reject) => {
    const req = request(q.url, {
      method: q.method ?? 'GET',
      headers: { accept: 'application/json', ...(q.headers ?? {}) },
      agent: false,
      timeout: q.timeoutMs ?? 3000,
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(q.body);
  });
}

const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    const out = {};
    try {
      const q = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      // A connection per request (agent: false): a reused keep-alive socket that the
      // server closes while idle would fail a POST that cannot be retried.
      const r = await get(q);
      out.status = r.status;
      try {
        out.body = JSON.parse(r.text);
      } catch {
        out.body = r.text;
      }
    } catch (err) {
      out.error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(out));
  });
});
server.listen(socketPath, () => process.stdout.write('ready\n'));
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
