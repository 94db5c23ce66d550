import { createRequire } from 'node:module';

/**
 * node-turn 0.0.6 is CommonJS without types. We load the modules we keep
 * (wire codec, transport, the server's dispatcher) through `require`, so our
 * patches act on the very prototypes node-turn uses, and type only what we touch.
 */
const require = createRequire(import.meta.url);

export interface NtAddress {
  family: number;
  address: string;
  port: number;
}

export interface NtUser {
  username: string;
  password: string;
}

export interface NtTransport {
  protocol: number;
  src: NtAddress;
  dst: NtAddress;
  socket: { send(buf: Buffer, port: number, address: string, cb?: (err: Error | null) => void): void };
  get5Tuple(): string;
  revert(): NtTransport;
}

export interface NtAttribute {
  msg: NtMessage;
  name: string | null;
  type: number | null;
  length: number;
  padding: number;
  value: unknown;
  read(data: Buffer): void;
}

export interface NtMessage {
  server: NtServer;
  transport: NtTransport;
  allocation: unknown;
  class: number | null;
  method: number | null;
  transactionID: string | null;
  magicCookie: number;
  useFingerprint: boolean;
  length: number;
  attributes: NtAttribute[];
  user: NtUser | null;
  _state: number;
  getAttribute(name: string): unknown;
  getAttributes(name: string): unknown[];
  addAttribute(name: string, value?: unknown): void;
  setUser(user: NtUser): void;
  reply(): NtMessage;
  resolve(): void;
  reject(code: number, reason: string): void;
  discard(): void;
  read(buf: Buffer): boolean;
}

/** The parts of node-turn's server object we keep or replace. */
export interface NtServer {
  realm: string;
  software: string;
  allocations: Record<string, unknown>;
  authentification: unknown;
  network: unknown;
  debug(level: string, msg: string): void;
  emit(event: string, ...args: unknown[]): boolean;
  on(event: string, fn: (...args: never[]) => void): unknown;
  removeAllListeners(event: string): unknown;
}

type Ctor<T, A extends unknown[]> = new (...args: A) => T;

export interface NtConstants {
  ATTR: Record<string, number>;
  METHOD: Record<string, number>;
  CLASS: { REQUEST: number; INDICATION: number; SUCCESS: number; ERROR: number };
  TRANSPORT: { FAMILY: { IPV4: number; IPV6: number }; PROTOCOL: { UDP: number } };
  MAGIC_COOKIE: number;
}

/**
 * The node-turn versions our patches were written and tested against: they
 * replace functions on its internal prototypes and read its internal files,
 * which any release may rename or change. Another version must be tested
 * (test/node-turn*.test.ts) and listed here before it runs.
 */
export const TESTED_NODE_TURN_VERSIONS: readonly string[] = ['0.0.6'];

/** The installed node-turn's version, from its package.json. */
export function installedNodeTurnVersion(): string {
  const pkg = require('node-turn/package.json') as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : 'unknown';
}

/** Throws a message naming the installed and the tested versions unless `version` is tested. */
export function assertTestedNodeTurn(version: string): void {
  if (TESTED_NODE_TURN_VERSIONS.includes(version)) return;
  throw new Error(
    `node-turn ${version} is installed, but the node-turn backend is patched for and tested with `
    + `${TESTED_NODE_TURN_VERSIONS.join(', ')} only: install node-turn@${TESTED_NODE_TURN_VERSIONS.at(-1) ?? ''} `
    + 'or use TURN_BACKEND=coturn.',
  );
}

/** An internal file of node-turn; an untested version that lacks it fails with the version message. */
function internal<T>(id: string): T {
  try {
    return require(id) as T;
  } catch (err) {
    assertTestedNodeTurn(installedNodeTurnVersion());
    throw err;
  }
}

export const NodeTurnServer = internal<Ctor<NtServer, [Record<string, unknown>]>>('node-turn');
export const Message = internal<Ctor<NtMessage, [NtServer, NtTransport]>>('node-turn/lib/message.js');
export const Attribute = internal<Ctor<NtAttribute, [NtMessage]>>('node-turn/lib/attribute.js');
export const Address = internal<Ctor<NtAddress, [string, number]>>('node-turn/lib/address.js');
export const Transport = internal<Ctor<NtTransport, [number, NtAddress, NtAddress, NtTransport['socket']]>>('node-turn/lib/transport.js');
export const CONSTANTS = internal<NtConstants>('node-turn/lib/constants.js');
