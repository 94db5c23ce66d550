export { createRoomsService, type RoomsService, type RoomsServiceDeps, type RoomsServiceOptions } from './service.js';
export { isRoomHash, parseRoomHash } from './room-hash.js';
export { frameMessage, frameEvent } from './streams/sse.js';
export { roomsNode } from './assembly.js';
