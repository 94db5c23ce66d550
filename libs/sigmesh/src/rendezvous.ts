/**
 * Node choice by rendezvous (highest random weight) hashing: every client that knows
 * roughly the same nodes ranks them the same way for a room, so they meet on the same
 * ones, and losing a node only moves the rooms that had it.
 */
import { sha256 } from './sha256.js';

export interface RankCandidate {
  /** The node's id (64 hex, from `GET /`). */
  id: string;
  /** log2 of the node's price; unknown counts as free of penalty. */
  difficulty?: number;
}

export interface RankOptions {
  /**
   * Score penalty per doubling of price. Scores are uniform in [0, 1), so only nodes
   * whose scores lie within about `tieWidth * Δdifficulty` of each other swap places:
   * price decides near ties, the hash decides everything else. Default 0.02.
   */
  tieWidth?: number;
}

/** Uniform score in [0, 1) of a node for a room: the first 52 bits of SHA-256(room:node). */
export function rendezvousScore(roomHash: string, nodeId: string): number {
  const h = sha256(`${roomHash}:${nodeId}`);
  // 52 bits fit a double exactly.
  const hi = ((h[0]! << 24) | (h[1]! << 16) | (h[2]! << 8) | h[3]!) >>> 0;
  const lo = ((h[4]! << 12) | (h[5]! << 4) | (h[6]! >>> 4)) >>> 0;
  return (hi * 2 ** 20 + lo) / 2 ** 52;
}

/** All candidates, best first. Equal scores fall back to id order so every client agrees. */
export function rankNodes<T extends RankCandidate>(roomHash: string, nodes: readonly T[], opts: RankOptions = {}): T[] {
  const tieWidth = opts.tieWidth ?? 0.02;
  return nodes
    .map((node) => ({ node, score: rendezvousScore(roomHash, node.id) - tieWidth * (node.difficulty ?? 0) }))
    .sort((a, b) => b.score - a.score || (a.node.id < b.node.id ? -1 : a.node.id > b.node.id ? 1 : 0))
    .map((x) => x.node);
}

/** The `k` best nodes for a room (fewer when fewer are known). */
export function chooseNodes<T extends RankCandidate>(roomHash: string, nodes: readonly T[], k = 2, opts: RankOptions = {}): T[] {
  return rankNodes(roomHash, nodes, opts).slice(0, Math.max(0, k));
}
