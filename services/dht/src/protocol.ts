/**
 * The bus protocol between the API and the dht service (request/reply,
 * UTF-8 JSON both ways). Types, subjects and validators live in
 * libs/shared/src/bep44.ts (exported by `@mesh/shared`) so the API uses them without depending on this
 * package; this page is their reference.
 *
 * `dht.get` (DHT_GET_SUBJECT)
 *   request  {"key": "<64 hex>", "salt"?: "<utf8, <= 64 bytes>"}
 *   reply    {"ok": true, "item": {"key", "salt", "seq", "v": "<base64>", "sig": "<128 hex>"}}
 *            `salt` is "" when the item has none; the item's signature was
 *            verified by the dht service before replying.
 *          | {"ok": false, "error": "not_found" | "dht_timeout" | "bad_request" | "unavailable", "message"?}
 *
 * `dht.put` (DHT_PUT_SUBJECT)
 *   request  {"key", "salt"?, "seq": <int >= 0>, "v": "<base64, <= 1000 bytes>", "sig": "<128 hex>", "cas"?: <int >= 0>}
 *   reply    {"ok": true, "target": "<40 hex>", "stored": <DHT nodes that took it>}
 *          | {"ok": false, "error": "seq_conflict" | "bad_signature" | "dht_timeout" | "bad_request" | "unavailable", "message"?}
 *
 * Error codes are PROTOCOL.md's (errors.ts): `not_found` 404, `bad_request`
 * 400, `bad_signature` 400, `seq_conflict` 409, `dht_timeout` 504,
 * `unavailable` 503 (the DHT is not running, or no DHT node took the put).
 *
 * The dht service validates every field again (never trusts the bus) and
 * answers within `DHT_REQUEST_TIMEOUT_MS` (default 8 s) with `dht_timeout`;
 * the API should use a bus timeout a little longer than that. Responders
 * form one queue group: each request is served by one dht instance. A bus
 * error `no_responders` means no dht service runs (503 `unavailable`).
 */
export {
  DHT_GET_SUBJECT,
  DHT_PUT_SUBJECT,
  type Bep44GetRequest,
  type Bep44PutRequest,
  type Bep44Item,
  type DhtGetReply,
  type DhtPutReply,
  type DhtGetError,
  type DhtPutError,
} from '@mesh/shared';
