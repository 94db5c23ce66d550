import { apiBehaviour } from './support/suite.js';
import { embedded } from './support/wirings.js';

apiBehaviour(embedded);
