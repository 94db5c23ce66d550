export { embeddedNode } from './assembly.js';
