// Container health probe: exits 0 when the URL answers 2xx within 3 s.
// Plain JS on purpose: the runtime image has neither curl nor wget.
const url = process.argv[2];
if (!url) {
  console.error('usage: node healthcheck.mjs <url>');
  process.exit(2);
}
try {
  const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
  process.exit(res.ok ? 0 : 1);
} catch {
  process.exit(1);
}
