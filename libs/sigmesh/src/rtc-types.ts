/**
 * The slice of the WebRTC API the peers helper uses, declared here because the
 * project type-checks without the DOM library. Browsers' real classes fit these.
 */

export interface SessionDescription {
  type: 'offer' | 'answer' | 'pranswer' | 'rollback';
  sdp?: string;
}

export interface IceCandidateInit {
  candidate?: string;
  sdpMid?: string | null;
  sdpMLineIndex?: number | null;
  usernameFragment?: string | null;
}

export interface RtcIceServer {
  urls: string | string[];
  username?: string;
  credential?: string;
}

export interface RtcConfiguration {
  iceServers?: RtcIceServer[];
  iceTransportPolicy?: 'all' | 'relay';
}

export interface DataChannelLike {
  readonly label: string;
  readonly readyState: 'connecting' | 'open' | 'closing' | 'closed';
  send(data: string): void;
  close(): void;
  addEventListener(type: 'open' | 'close', fn: () => void): void;
  addEventListener(type: 'message', fn: (ev: { data: unknown }) => void): void;
}

export interface StatsReportLike {
  forEach(fn: (stat: Record<string, unknown>) => void): void;
  get(id: string): Record<string, unknown> | undefined;
}

export interface PeerConnectionLike {
  readonly signalingState: string;
  readonly connectionState: string;
  readonly localDescription: { type: string; sdp: string } | null;
  readonly remoteDescription: { type: string; sdp: string } | null;
  setLocalDescription(desc?: SessionDescription): Promise<void>;
  setRemoteDescription(desc: SessionDescription): Promise<void>;
  addIceCandidate(candidate?: IceCandidateInit): Promise<void>;
  createDataChannel(label: string, opts: { negotiated: boolean; id: number }): DataChannelLike;
  restartIce(): void;
  getStats(): Promise<StatsReportLike>;
  close(): void;
  addEventListener(type: 'negotiationneeded' | 'connectionstatechange', fn: () => void): void;
  addEventListener(type: 'icecandidate', fn: (ev: { candidate: { toJSON(): IceCandidateInit } | null }) => void): void;
}

export type PeerConnectionCtor = new (config: RtcConfiguration) => PeerConnectionLike;
