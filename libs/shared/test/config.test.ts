import { describe, expect, test } from '@jest/globals';
import { ConfigError, DEFAULT_BOOTSTRAP, networkInfohash, parseConfig } from '@mesh/shared';

describe('parseConfig', () => {
  test('embedded defaults need no variable', () => {
    const c = parseConfig({});
    expect(c.port).toBe(8080);
    expect(c.publicUrl).toBe('http://localhost:8080');
    expect(c.natsUrl).toBeUndefined();
    expect(c.redisUrl).toBeUndefined();
    expect(c.pow).toMatchObject({ baseWork: 4096, loadFactor: 255, roomFree: 30, tokenFactor: 16, slack: 0.25, tokenTtlSeconds: 300, rotationSeconds: 60 });
    expect(c.room.maxPerIp).toBe(32);
    expect(c.dht.bootstrap).toEqual(DEFAULT_BOOTSTRAP);
    expect(c.dht.network).toBe('webrtc-signaling-mesh');
    expect(c.dht.infohash).toMatch(/^[0-9a-f]{40}$/);
    expect(c.dht.announcePort).toBe(8080);
    expect(c.turn.port).toBe(3478);
    expect(c.turn.backend).toBe('auto');
    expect(c.turn.publicHost).toBe('localhost');
    expect(c.trustProxy).toEqual(['127.0.0.0/8', '::1/128']);
    expect(c.metricsPort).toBe(9100);
  });

  test('the metrics port default depends on the service', () => {
    expect(parseConfig({}, 'api').metricsPort).toBe(9101);
    expect(parseConfig({}, 'rooms').metricsPort).toBe(9102);
    expect(parseConfig({}, 'dht').metricsPort).toBe(9103);
    expect(parseConfig({}, 'turn').metricsPort).toBe(9104);
  });

  test('PUBLIC_URL follows PORT and its port is announced', () => {
    expect(parseConfig({ PORT: '9000' }).publicUrl).toBe('http://localhost:9000');
    const c = parseConfig({ PUBLIC_URL: 'https://node.example/' });
    expect(c.publicUrl).toBe('https://node.example');
    expect(c.dht.announcePort).toBe(443);
    expect(c.turn.publicHost).toBe('node.example');
  });

  test('DHT_BOOTSTRAP none isolates, a list is parsed', () => {
    expect(parseConfig({ DHT_BOOTSTRAP: 'none' }).dht.bootstrap).toEqual([]);
    expect(parseConfig({ DHT_BOOTSTRAP: '127.0.0.1:7000, [::1]:7001' }).dht.bootstrap).toEqual(['127.0.0.1:7000', '[::1]:7001']);
  });

  test('the network infohash is the SHA-1 of the name', () => {
    expect(networkInfohash('abc')).toBe('a9993e364706816aba3e25717850c26c9cd0d89d');
    expect(parseConfig({ MESH_NETWORK: 'abc' }).dht.infohash).toBe('a9993e364706816aba3e25717850c26c9cd0d89d');
  });

  const bad: [Record<string, string>, string][] = [
    [{ PORT: 'eighty' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT'],
    [{ PUBLIC_URL: 'ftp://x' }, 'PUBLIC_URL'],
    [{ PUBLIC_URL: 'not a url' }, 'PUBLIC_URL'],
    [{ PUBLIC_URL: 'https://user:pw@node.example' }, 'PUBLIC_URL'],
    [{ PUBLIC_URL: 'https://node.example/?q=1' }, 'PUBLIC_URL'],
    [{ PUBLIC_URL: 'https://node.example/#f' }, 'PUBLIC_URL'],
    [{ NATS_URL: 'http://x:4222' }, 'NATS_URL'],
    [{ REDIS_URL: 'nats://x' }, 'REDIS_URL'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ MESH_ALLOW_INSECURE: 'maybe' }, 'MESH_ALLOW_INSECURE'],
    [{ TURN_BACKEND: 'stunnel' }, 'TURN_BACKEND'],
    [{ TRUST_PROXY: '10.0.0.0' }, 'TRUST_PROXY'],
    [{ TRUST_PROXY: '10.0.0.0/33' }, 'TRUST_PROXY'],
    [{ TRUST_PROXY: '999.1.1.1/8' }, 'TRUST_PROXY'],
    [{ TURN_ALLOWED_PEERS: '1.2.3.4/99' }, 'TURN_ALLOWED_PEERS'],
    [{ TURN_ALLOWED_PEERS: 'everything' }, 'TURN_ALLOWED_PEERS'],
    [{ DHT_BOOTSTRAP: 'router' }, 'DHT_BOOTSTRAP'],
    [{ POW_SLACK: '1.5' }, 'POW_SLACK'],
    [{ POW_BASE_WORK: '0' }, 'POW_BASE_WORK'],
    [{ NODE_SECRET: 'short' }, 'NODE_SECRET'],
    [{ TURN_RELAY_MIN_PORT: '50000', TURN_RELAY_MAX_PORT: '40000' }, 'TURN_RELAY_MAX_PORT'],
    [{ BUS_PREFIX: 'a b' }, 'BUS_PREFIX'],
    [{ BUS_PREFIX: 'rooms.>' }, 'BUS_PREFIX'],
  ];
  test.each(bad)('%j fails naming %s', (env, name) => {
    let err: unknown;
    try { parseConfig(env); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).variable).toBe(name);
    expect((err as ConfigError).message).toContain(name);
  });

  test('blank values mean the default', () => {
    expect(parseConfig({ PORT: '  ', REDIS_URL: '' }).port).toBe(8080);
    expect(parseConfig({ REDIS_URL: '' }).redisUrl).toBeUndefined();
  });

  test('TURN_CREDENTIALS_PER_CLIENT defaults to 10 % of the total quota in credentials, at least 1', () => {
    expect(parseConfig({}).turn.credentialsPerClient).toBe(10);
    expect(parseConfig({ TURN_TOTAL_QUOTA: '500', TURN_USER_QUOTA: '5' }).turn.credentialsPerClient).toBe(10);
    expect(parseConfig({ TURN_TOTAL_QUOTA: '30', TURN_USER_QUOTA: '10' }).turn.credentialsPerClient).toBe(1);
    expect(parseConfig({ TURN_CREDENTIALS_PER_CLIENT: '3' }).turn.credentialsPerClient).toBe(3);
    expect(() => parseConfig({ TURN_CREDENTIALS_PER_CLIENT: '0' })).toThrow(ConfigError);
  });
});
