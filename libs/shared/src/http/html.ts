/**
 * The human view of every endpoint: one small, self-contained HTML page
 * (no external assets, no script) with every value escaped.
 */

export interface PageContent {
  title: string;
  intro?: string;
  facts: ReadonlyArray<readonly [label: string, value: string | number | boolean | null]>;
  links: ReadonlyArray<readonly [label: string, href: string]>;
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
};

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

/** Only same-origin paths and http(s) URLs become links; anything else (javascript:, data:) is dropped. */
function safeHref(href: string): string | undefined {
  if (href.startsWith('/') && !href.startsWith('//')) return href;
  if (/^https?:\/\//i.test(href)) return href;
  return undefined;
}

const STYLE = 'body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#222}'
  + 'dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem}dt{font-weight:600}'
  + 'dd{margin:0;font-family:ui-monospace,monospace;overflow-wrap:anywhere}';

export function renderPage(page: PageContent): string {
  const facts = page.facts
    .map(([label, value]) => `<dt>${escapeHtml(label)}</dt><dd>${escapeHtml(String(value))}</dd>`)
    .join('');
  const links = page.links
    .map(([label, href]) => {
      const safe = safeHref(href);
      return safe === undefined ? '' : `<li><a href="${escapeHtml(safe)}">${escapeHtml(label)}</a></li>`;
    })
    .join('');
  return '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
    + '<meta name="viewport" content="width=device-width, initial-scale=1">'
    + `<title>${escapeHtml(page.title)}</title><style>${STYLE}</style></head><body>`
    + `<h1>${escapeHtml(page.title)}</h1>`
    + (page.intro !== undefined ? `<p>${escapeHtml(page.intro)}</p>` : '')
    + (facts !== '' ? `<dl>${facts}</dl>` : '')
    + (links !== '' ? `<ul>${links}</ul>` : '')
    + '</body></html>\n';
}
