/**
 * Reading one number out of a service's Prometheus text exposition: the sum
 * of every sample of `name` (over all label sets), 0 when absent.
 */
export function metricValue(exposition: string, name: string): number {
  let sum = 0;
  for (const line of exposition.split('\n')) {
    if (line.startsWith('#') || !line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    // `name 3` or `name{labels} 3`, not `name_bucket ...`.
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    const value = rest.startsWith('{') ? rest.slice(rest.lastIndexOf('}') + 1) : rest;
    const n = Number(value.trim().split(/\s+/)[0]);
    if (Number.isFinite(n)) sum += n;
  }
  return sum;
}

/** GET http://127.0.0.1:<opsPort>/metrics, then `metricValue`. */
export async function scrapeMetric(opsPort: number, name: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${opsPort}/metrics`, { signal: AbortSignal.timeout(3000) });
  if (res.status !== 200) throw new Error(`metrics on ${opsPort}: HTTP ${res.status}`);
  return metricValue(await res.text(), name);
}
