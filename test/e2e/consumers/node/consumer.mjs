// A Node app that installed @mesh/sigmesh from its tarball and uses rooms only (no
// WebRTC, so no RTCPeerConnection implementation). Two members meet in a room through
// the node given as argv[2]; prints one JSON line and must then exit by itself.
import { createMesh } from '@mesh/sigmesh';

const [seed, roomName] = process.argv.slice(2);
const alice = createMesh({ seeds: [seed], appId: 'scratch-consumer-node' });
const bob = createMesh({ seeds: [seed], appId: 'scratch-consumer-node' });

const a = await alice.joinRoom(roomName);
const sawBob = new Promise((resolve) => a.on('peer', ({ id }) => resolve(id)));
const got = new Promise((resolve) => a.on('message', (m) => resolve(m)));
const b = await bob.joinRoom(roomName);
await b.send({ hello: 'from bob' });
const [peerId, message] = await Promise.all([sawBob, got]);
const left = new Promise((resolve) => a.on('peer-left', ({ id }) => resolve(id)));
await bob.close();
const leftId = await left;
console.log(JSON.stringify({
  peerIsBob: peerId === b.selfId, fromBob: message.from === b.selfId, data: message.data,
  leftIsBob: leftId === b.selfId, solver: alice.solver.mode(),
}));
await alice.close();
