// Piscina task file: one build shard per task. The inputs arrive as SharedArrayBuffers (event
// log, catalog features, the neighbour outputs this shard fills); the matrix and popularity of
// shard 0 go back with their ArrayBuffers transferred, not cloned.
import { Piscina } from 'piscina';
import { buildShard, resultBuffers, type ShardInput } from './model.js';

type Movable = Parameters<typeof Piscina.move>[0];

export default function build(input: ShardInput): unknown {
  const result = buildShard(input);
  // Piscina's Transferable protocol: the value, plus the buffers to move with it
  const movable = { [Piscina.transferableSymbol]: resultBuffers(result), [Piscina.valueSymbol]: result };
  return Piscina.move(movable as unknown as Movable);
}
