// Starts bittorrent-tracker's WebSocket tracker alone, on loopback. Its own
// bin/cmd.js imports the client too, which needs the native node-datachannel
// (not built here: installed with --ignore-scripts); the server does not.
// Usage: node tracker-server.js <port>; prints {"port": n} once listening.
import Server from 'bittorrent-tracker/server'

const server = new Server({ http: false, udp: false, ws: true, stats: false })
server.on('error', (err) => { console.error(err.message); process.exit(1) })
server.on('warning', () => {}) // bad client input; the bench's clients send none
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  console.log(JSON.stringify({ port: server.ws.address().port }))
})
process.on('SIGTERM', () => server.close(() => process.exit(0)))
