import { runMain } from '@mesh/shared';
import { embeddedNode } from './assembly.js';

await runMain(embeddedNode);
