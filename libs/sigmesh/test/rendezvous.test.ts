import { describe, test, expect } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { chooseNodes, rankNodes, rendezvousScore } from '../src/rendezvous.js';
import { roomHash } from '../src/room.js';

const nodes = Array.from({ length: 20 }, () => ({ id: randomBytes(32).toString('hex') }));
const rooms = Array.from({ length: 500 }, (_, i) => roomHash('app', `room-${i}`));
const ids = (xs: { id: string }[]): string[] => xs.map((x) => x.id);

describe('room hash', () => {
  test('is SHA-256 of app id and name, distinct per app', () => {
    expect(roomHash('app', 'lobby')).toBe(createHash('sha256').update('sigmesh/v1["app","lobby"]').digest('hex'));
    expect(roomHash('app', 'lobby')).not.toBe(roomHash('other', 'lobby'));
    expect(roomHash('a', 'b\0c')).not.toBe(roomHash('a\0b', 'c'));
  });
});

describe('rendezvous node choice', () => {
  test('scores are uniform-ish in [0,1) and deterministic', () => {
    const scores = rooms.map((r) => rendezvousScore(r, nodes[0]!.id));
    expect(scores.every((s) => s >= 0 && s < 1)).toBe(true);
    const mean = scores.reduce((a, b) => a + b, 0) / scores.length;
    expect(mean).toBeGreaterThan(0.4);
    expect(mean).toBeLessThan(0.6);
    expect(rendezvousScore(rooms[0]!, nodes[0]!.id)).toBe(scores[0]);
  });

  test('order of the input does not matter', () => {
    const shuffled = [...nodes].reverse();
    for (const r of rooms.slice(0, 50)) expect(ids(chooseNodes(r, shuffled, 2))).toEqual(ids(chooseNodes(r, nodes, 2)));
  });

  test('spreads rooms over nodes', () => {
    const counts = new Map<string, number>();
    for (const r of rooms) for (const n of chooseNodes(r, nodes, 2)) counts.set(n.id, (counts.get(n.id) ?? 0) + 1);
    expect(counts.size).toBe(nodes.length);
    // 1000 picks over 20 nodes: 50 expected each.
    for (const c of counts.values()) expect(c).toBeLessThan(110);
  });

  test('two clients knowing overlapping node sets meet on a shared node for most rooms', () => {
    const a = nodes.filter((_, i) => i !== 3 && i !== 7);
    const b = nodes.filter((_, i) => i !== 11 && i !== 15);
    let meet = 0;
    let sameTop = 0;
    for (const r of rooms) {
      const ca = ids(chooseNodes(r, a, 2));
      const cb = ids(chooseNodes(r, b, 2));
      if (ca.some((x) => cb.includes(x))) meet++;
      if (ca[0] === cb[0]) sameTop++;
    }
    expect(meet / rooms.length).toBeGreaterThan(0.97);
    expect(sameTop / rooms.length).toBeGreaterThan(0.7);
  });

  test('removing a node only moves the rooms that had it', () => {
    const gone = nodes[5]!;
    const rest = nodes.filter((n) => n !== gone);
    let moved = 0;
    for (const r of rooms) {
      const before = ids(chooseNodes(r, nodes, 2));
      const after = ids(chooseNodes(r, rest, 2));
      if (!before.includes(gone.id)) expect(after).toEqual(before);
      else { moved++; expect(after).toContain(before.find((x) => x !== gone.id)); }
    }
    expect(moved).toBeGreaterThan(0);
  });

  test('a cheaper node wins a near tie, a clear winner keeps its place', () => {
    const room = rooms[0]!;
    const ranked = rankNodes(room, nodes);
    const [first, second] = [ranked[0]!, ranked[1]!];
    const gap = rendezvousScore(room, first.id) - rendezvousScore(room, second.id);
    // Make the top node 2 doublings dearer than the runner-up.
    const priced = nodes.map((n) => ({ ...n, difficulty: n.id === first.id ? 14 : 12 }));
    const top = rankNodes(room, priced, { tieWidth: gap / 1.5 })[0]!; // penalty 2*gap/1.5 > gap
    expect(top.id).toBe(second.id);
    const kept = rankNodes(room, priced, { tieWidth: gap / 3 })[0]!; // penalty 2*gap/3 < gap
    expect(kept.id).toBe(first.id);
    // Equal prices change nothing.
    expect(ids(rankNodes(room, nodes.map((n) => ({ ...n, difficulty: 20 }))))).toEqual(ids(ranked));
  });

  test('k larger than the node count returns every node', () => {
    expect(chooseNodes(rooms[1]!, nodes.slice(0, 3), 5)).toHaveLength(3);
  });
});
