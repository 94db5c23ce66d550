import { runMain } from '@mesh/shared';
import { apiNode } from './assembly.js';

await runMain(apiNode);
