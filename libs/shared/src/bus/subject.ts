/**
 * Subject rules shared by both bus implementations. Subjects are tokens of
 * `[A-Za-z0-9_-]` joined by dots: no wildcards, no spaces, so a caller can
 * never widen a subscription or inject protocol text.
 */
const SUBJECT = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

/** Longest subject accepted (prefix included); NATS allows more, nobody needs it. */
const MAX_SUBJECT_LENGTH = 256;

/** Queue group of every `respond` handler: each request is served once. */
export const RESPOND_QUEUE = 'responders';

/** The subject on the wire: `<prefix>.<subject>`, or `subject` for an empty prefix. Throws TypeError on a malformed subject. */
export function prefixSubject(prefix: string, subject: string): string {
  const wire = prefix === '' ? subject : `${prefix}.${subject}`;
  if (wire.length > MAX_SUBJECT_LENGTH || !SUBJECT.test(wire)) {
    throw new TypeError(`invalid bus subject: ${JSON.stringify(wire.slice(0, 80))}`);
  }
  return wire;
}
