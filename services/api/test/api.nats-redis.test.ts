import { apiBehaviour } from './support/suite.js';
import { natsRedis } from './support/wirings.js';

apiBehaviour(natsRedis);
