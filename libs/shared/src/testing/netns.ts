import { execFileSync, spawnSync } from 'node:child_process';
import { spawnChild, type ChildHandle } from './processes.js';

/**
 * A network of hosts on one machine: each host is a Linux network namespace
 * with its own addresses, joined to the others by a bridge that itself
 * lives in a namespace of its own. Nothing links them to the machine's own
 * namespace and no namespace has a default route, so traffic can only go
 * between the hosts of the bed: an address of a bed exists nowhere else.
 *
 * Every namespace is removed (and every process in it killed) by
 * `destroy()`, at process exit, on SIGINT/SIGTERM, and by the next bed of
 * this machine when its creator died without cleaning up.
 */

/** PATH for processes in a host: only the given environment reaches them. */
export const PATH_ENV = '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin';

/** The addresses of every bed: a /24 outside the special-purpose ranges, so nodes see "public" peers. */
export const BED_PREFIX = '25.0.0';
export const BED_CIDR = `${BED_PREFIX}.0/24`;

export interface HostSpec {
  /** Short name, [a-z0-9]{1,8}. */
  name: string;
  /** Last octets of the host's addresses in BED_PREFIX (the first is its main address). */
  octets: number[];
  /** More addresses with their prefix (`10.99.0.5/24`), on the same link. */
  extraAddresses?: string[];
  /** More on-link routes (`10.99.0.0/24`): still no default route. */
  onLinkRoutes?: string[];
}

export interface BedHost {
  name: string;
  /** The namespace's name (`ip netns exec <ns>`). */
  ns: string;
  /** Main address. */
  ip: string;
  ips: string[];
}

export interface SpawnInHostOptions {
  name: string;
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
}

export interface Bed {
  hosts: Map<string, BedHost>;
  host(name: string): BedHost;
  /** Spawns a process inside a host (its output kept, killed when the bed goes). */
  spawn(host: string, opts: SpawnInHostOptions): ChildHandle;
  destroy(): Promise<void>;
}

const NS_PREFIX = 'meshbed-';
const HOST_NAME = /^[a-z0-9]{1,8}$/;

function ip(args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Fails with a clear message where network namespaces cannot be made (not root, no iproute2). */
export function requireNetns(): void {
  const probe = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  if (probe.error !== undefined || probe.status !== 0) {
    throw new Error(
      'the many-host test bed needs Linux network namespaces: `ip netns` failed '
      + `(${probe.error?.message ?? probe.stderr.trim()}). Run the tests as root on Linux with iproute2 installed.`,
    );
  }
  if (process.getuid?.() !== 0) {
    throw new Error('the many-host test bed needs Linux network namespaces, which need root: run the tests as root.');
  }
}

function listNamespaces(): string[] {
  const out = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
  return out.split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n.startsWith(NS_PREFIX));
}

/** Kills every process of a namespace, then removes it. Synchronous: it also runs at process exit. */
function removeNamespace(ns: string): void {
  const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout ?? '';
  for (const pid of pids.split('\n').map(Number).filter((p) => Number.isInteger(p) && p > 0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Namespaces left by a test process that died without cleaning up. */
function removeOrphans(): void {
  for (const ns of listNamespaces()) {
    const pid = Number(ns.slice(NS_PREFIX.length).split('-')[0]);
    if (Number.isInteger(pid) && pid !== process.pid && !isAlive(pid)) removeNamespace(ns);
  }
}

const live = new Set<string>();
let hooked = false;
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  const cleanAll = (): void => {
    for (const ns of live) removeNamespace(ns);
    live.clear();
  };
  process.once('exit', cleanAll);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      cleanAll();
      process.exit(128 + (sig === 'SIGINT' ? 2 : 15));
    });
  }
}

let beds = 0;

export function createBed(specs: HostSpec[]): Bed {
  requireNetns();
  removeOrphans();
  hookExit();
  const tag = `${NS_PREFIX}${process.pid}-${beds++}`;
  const bridgeNs = `${tag}-br`;
  const hosts = new Map<string, BedHost>();
  const children: ChildHandle[] = [];

  const make = (ns: string): void => {
    ip(['netns', 'add', ns]);
    live.add(ns);
    ip(['-n', ns, 'link', 'set', 'lo', 'up']);
  };

  try {
    make(bridgeNs);
    ip(['-n', bridgeNs, 'link', 'add', 'br0', 'type', 'bridge']);
    ip(['-n', bridgeNs, 'link', 'set', 'br0', 'up']);
    specs.forEach((spec, i) => {
      if (!HOST_NAME.test(spec.name) || hosts.has(spec.name)) throw new Error(`bad or repeated host name ${spec.name}`);
      const ns = `${tag}-${spec.name}`;
      make(ns);
      // Both ends are made inside namespaces: no interface of the bed ever exists in the machine's own.
      ip(['-n', bridgeNs, 'link', 'add', `p${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      ip(['-n', bridgeNs, 'link', 'set', `p${i}`, 'master', 'br0']);
      ip(['-n', bridgeNs, 'link', 'set', `p${i}`, 'up']);
      const ips = spec.octets.map((o) => `${BED_PREFIX}.${o}`);
      // A /24 on-link route and nothing else: no default route.
      for (const a of ips) ip(['-n', ns, 'addr', 'add', `${a}/24`, 'dev', 'eth0']);
      for (const a of spec.extraAddresses ?? []) ip(['-n', ns, 'addr', 'add', a, 'dev', 'eth0']);
      ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
      for (const r of spec.onLinkRoutes ?? []) ip(['-n', ns, 'route', 'add', r, 'dev', 'eth0', 'scope', 'link']);
      hosts.set(spec.name, { name: spec.name, ns, ip: ips[0] as string, ips });
    });
  } catch (err) {
    for (const ns of [...live].filter((n) => n.startsWith(tag))) {
      removeNamespace(ns);
      live.delete(ns);
    }
    throw err;
  }

  const host = (name: string): BedHost => {
    const h = hosts.get(name);
    if (h === undefined) throw new Error(`no host ${name} in the bed`);
    return h;
  };

  return {
    hosts,
    host,
    spawn(name, opts) {
      const h = host(name);
      const child = spawnChild({
        name: opts.name,
        command: 'ip',
        args: ['netns', 'exec', h.ns, opts.command, ...opts.args],
        env: opts.env,
        cwd: opts.cwd,
      });
      children.push(child);
      return child;
    },
    async destroy() {
      await Promise.all(children.map((c) => c.stop(2000)));
      for (const ns of [...live].filter((n) => n.startsWith(`${tag}-`))) {
        removeNamespace(ns);
        live.delete(ns);
      }
    },
  };
}

/** Runs a command in `host` to its end (SIGKILLed after `timeoutMs`); its exit and output. */
export async function runIn(
  bed: Bed, host: string, command: string, args: string[], timeoutMs: number, cwd = process.cwd(),
): Promise<{ code: number | null; output: string }> {
  const child = bed.spawn(host, { name: `${command}@${host}`, command, args, env: { PATH: PATH_ENV }, cwd });
  const timer = setTimeout(() => child.signal('SIGKILL'), timeoutMs);
  const info = await child.exited;
  clearTimeout(timer);
  return { code: info.code, output: child.output() };
}
