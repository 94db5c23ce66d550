// Plain bittorrent-dht nodes (not our code), as most of the public DHT is:
// one per address given, each on port 6881, the first the others' bootstrap.
// Usage: node plain-dht.mjs <ip> [<ip> ...]; prints "ready <n>" once all listen.
import DHT from 'bittorrent-dht';

const ips = process.argv.slice(2);
const PORT = 6881;
const nodes = [];

function listen(dht, ip) {
  return new Promise((resolve, reject) => {
    dht.once('error', reject);
    dht.listen(PORT, ip, () => resolve());
  });
}

for (const [i, ip] of ips.entries()) {
  const dht = new DHT({
    bootstrap: i === 0 ? false : [`${ips[0]}:${PORT}`, ...(i > 1 ? [`${ips[i - 1]}:${PORT}`] : [])],
    host: false,
  });
  dht.on('warning', () => {});
  dht.on('error', (err) => process.stderr.write(`dht ${ip}: ${err.message}\n`));
  await listen(dht, ip);
  nodes.push(dht);
}
process.stdout.write(`ready ${nodes.length}\n`);

const stop = () => {
  let left = nodes.length;
  for (const n of nodes) n.destroy(() => { if (--left === 0) process.exit(0); });
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
