import type { Metrics } from '@mesh/shared';
import type { DropReason } from './streams/stream.js';

/** Accept-to-write latencies are sub-millisecond on one host and grow with load. */
const FANOUT_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** The rooms series of docs/METRICS.md. */
export type RoomMetrics = ReturnType<typeof createRoomMetrics>;

export function createRoomMetrics(metrics: Metrics) {
  const dropped = metrics.counter('room_streams_dropped_total', 'SSE streams closed by the server', ['reason'] as const);
  // Zero series up front, so dashboards see both reasons before the first drop.
  for (const reason of ['slow', 'shutdown'] satisfies DropReason[]) dropped.inc({ reason }, 0);
  return {
    streamsOpen: metrics.gauge('sse_streams_open', 'Open SSE streams on this worker'),
    roomsActive: metrics.gauge('rooms_active', 'Rooms with at least one local subscriber'),
    channelsOpen: metrics.gauge('room_post_channels_open', 'Open post channels (WebSocket) on this worker'),
    accepted: metrics.counter('room_messages_accepted_total', 'Room posts accepted'),
    delivered: metrics.counter('room_messages_delivered_total', 'Room messages written to SSE streams'),
    dropped,
    fanoutSeconds: metrics.histogram(
      'room_fanout_seconds', 'Time from accepting a post to writing it on a subscriber stream', [], FANOUT_BUCKETS,
    ),
  };
}
