// A sigmesh client (rooms only, Node) living inside a host of the test bed,
// driven by the test over a Unix socket.
// Usage: node sigmesh-client.mjs <socket path> <seed url> <app id> <room>
//   POST /send {"data": ...} -> {"ok": true} | {"error": "..."}
//   GET /state -> {"received": [data...], "nodes": [RoomNode...], "peers": [id...]}
// Prints "ready" once joined.
import { createServer } from 'node:http';
import { rmSync } from 'node:fs';
import { createMesh } from '../../../libs/sigmesh/dist/index.js';

const [socketPath, seed, appId, roomName] = process.argv.slice(2);
rmSync(socketPath, { force: true });

const mesh = createMesh({ seeds: [seed], appId });
const room = await mesh.joinRoom(roomName);
const received = [];
room.on('message', (m) => received.push(m.data));
room.on('error', () => {});

const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    let out;
    if (req.method === 'POST' && req.url === '/send') {
      try {
        const { data } = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        await room.send(data, { signal: AbortSignal.timeout(5000) });
        out = { ok: true };
      } catch (err) {
        out = { error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) };
      }
    } else {
      out = { received, nodes: room.nodes(), peers: room.peerIds() };
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(out));
  });
});
server.listen(socketPath, () => process.stdout.write('ready\n'));
const stop = async () => {
  server.close();
  await mesh.close().catch(() => {});
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
