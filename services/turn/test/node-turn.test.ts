import { createNodeTurnBackend } from '../src/node-turn/backend.js';
import { runTurnContract } from './contract.js';

runTurnContract('node-turn', (d) => createNodeTurnBackend(d));
