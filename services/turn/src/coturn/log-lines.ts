/**
 * What a line of coturn's log is to us. coturn logs everything at one level
 * ("INFO"/"ERROR" prefixes are not reliable): its ~130-line start-up banner,
 * a line (or two) per refused packet, and the rare real fault.
 * - `fault`: the server cannot do its job (a port it cannot bind, a file it
 *   cannot open, a fatal error): warn.
 * - `packet`: one client's request or session (401 challenges, denied peers,
 *   quota refusals, session open/close): debug, these are normal traffic.
 * - `banner`: the rest (versions, features, listeners opened): debug.
 */
export type CoturnLineKind = 'fault' | 'packet' | 'banner';

const PACKET = /session \d+|user <|peer IP|check_stun_auth|incoming packet|: usage: |timestamp|nonce/i;
const FAULT = /cannot bind|already in use|errno=|cannot (?:open|create|start|allocate)|fatal|out of memory|exiting|\berror\b/i;

export function classifyCoturnLine(line: string): CoturnLineKind {
  if (PACKET.test(line)) return 'packet';
  return FAULT.test(line) ? 'fault' : 'banner';
}

/**
 * coturn logs each refused request twice: once naming the method
 * (`incoming packet CREATE_PERMISSION processed, error 403`), then again as
 * `incoming packet message processed, error 403` (ns_turn_server.c,
 * log_method). Requests refused before dispatch (401 challenges) get only
 * the second. This tells, per session, whether a `message` line repeats the
 * method line just before it.
 */
export function createRefusalDeduper(): (line: string) => { refused?: { user: string; code: string }; repeat: boolean } {
  const lastMethodError = new Map<string, string>();
  const LINE = /session (\d+): .*user <([^>]*)>: incoming packet (\S+) processed, error (\d{3})/;
  return (line) => {
    const m = LINE.exec(line);
    if (!m) return { repeat: false };
    const [, session = '', user = '', method, code = ''] = m;
    if (method !== 'message') {
      // Bounded: one entry per session with a pending method error.
      if (lastMethodError.size > 10_000) lastMethodError.clear();
      lastMethodError.set(session, code);
      return { repeat: false };
    }
    const repeat = lastMethodError.get(session) === code;
    lastMethodError.delete(session);
    // One refused request, one `message` line: the count comes from these.
    return { refused: { user, code }, repeat };
  };
}
