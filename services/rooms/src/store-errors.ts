import { ProtocolError, StoreError } from '@mesh/shared';

/** A store outage is the client's 503 `unavailable`, not our 500. */
export async function orUnavailable<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    if (err instanceof StoreError) throw new ProtocolError('unavailable', undefined, {}, { cause: err });
    throw err;
  }
}
