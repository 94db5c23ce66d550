import { roomsBehaviour } from './support/suite.js';
import { natsRedis } from './support/wirings.js';

roomsBehaviour(natsRedis);
