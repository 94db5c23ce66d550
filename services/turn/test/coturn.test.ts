import { createCoturnBackend } from '../src/coturn/backend.js';
import { runTurnContract } from './contract.js';

runTurnContract('coturn', (d) => createCoturnBackend(d));
