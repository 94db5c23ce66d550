import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, from bench/dist/lib/ (compiled) where this module runs. */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
/** The peers' own npm prefix (bench/peers), installed by bench/run.sh apart from the workspaces. */
export const PEERS_DIR = join(ROOT, 'bench', 'peers');
