import { roomsBehaviour } from './support/suite.js';
import { embedded } from './support/wirings.js';

roomsBehaviour(embedded);
