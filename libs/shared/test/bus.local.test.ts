import { busContract } from './bus.contract.js';
import { createLocalBroker, createLocalBus } from '../src/bus/index.js';

const broker = createLocalBroker();
busContract('local', (prefix) => createLocalBus({ prefix, broker }));
