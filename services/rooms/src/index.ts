export { createRoomsService, type RoomsService, type RoomsServiceDeps, type RoomsServiceOptions } from './service.js';
export { isRoomHash, parseRoomHash } from './hash.js';
export { frameMessage, frameEvent } from './sse.js';
export { roomsNode } from './assembly.js';
