// Loaded with --import into worker threads when ringstack runs from its TypeScript sources (tsx, vitest):
// Node 20 turns tsx on only in the main thread, so each worker registers the loader itself.
import { register } from 'tsx/esm/api';
register();
