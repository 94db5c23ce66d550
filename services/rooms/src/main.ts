import { runMain } from '@mesh/shared';
import { roomsNode } from './assembly.js';

await runMain(roomsNode);
