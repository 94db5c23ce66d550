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

export const NodeTurnServer = require('node-turn') as Ctor<NtServer, [Record<string, unknown>]>;
export const Message = require('node-turn/lib/message.js') as Ctor<NtMessage, [NtServer, NtTransport]>;
export const Attribute = require('node-turn/lib/attribute.js') as Ctor<NtAttribute, [NtMessage]>;
export const Address = require('node-turn/lib/address.js') as Ctor<NtAddress, [string, number]>;
export const Transport = require('node-turn/lib/transport.js') as Ctor<NtTransport, [number, NtAddress, NtAddress, NtTransport['socket']]>;
export const CONSTANTS = require('node-turn/lib/constants.js') as NtConstants;
