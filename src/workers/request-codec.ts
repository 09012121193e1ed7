// Requests cross to a shard as one flat array of primitives per batch. Structured clone of
// primitives costs less than cloning the same data as nested objects (send + receive per cart
// request: ~430 ns vs ~1,100 ns, `node dist/bench/micro/thread-clone.js`), and the clone runs on
// the main thread, the server's busiest. Cart commands, the hot path, are laid out field by field;
// anything rarer rides as one cloned object.
import type { ShardRequest } from './shard-messages.js';

const OBJECT = 0; // id, key, 0, cmd
const BARE = 1; // id, key, 1, type                      (get, clear, timer)
const SKU = 2; // id, key, 2, type, sku                  (remove)
const ITEM = 3; // id, key, 3, type, sku, qty, productId, name, unitPrice, currency, available
const ITEM_NONE = 4; // id, key, 4, type, sku, qty       (setQty 0: no catalog facts needed)

type Flat = unknown[];

interface ItemCmd {
  type: string;
  sku: string;
  qty: number;
  item?: { productId: string; name: string; unitPrice: number; currency: string; available: number };
}

/** True for `{ type }` alone (checked without allocating a key list). */
function onlyType(cmd: object): boolean {
  for (const k in cmd) if (k !== 'type') return false;
  return true;
}

/** Appends one request to a batch's flat array. */
export function appendRequest(flat: Flat, id: number, key: string, cmd: ShardRequest['cmd']): void {
  switch (cmd.type) {
    case 'get':
    case 'clear':
    case 'timer':
      if (onlyType(cmd)) return void flat.push(id, key, BARE, cmd.type);
      break;
    case 'remove':
      return void flat.push(id, key, SKU, cmd.type, (cmd as unknown as { sku: string }).sku);
    case 'add':
    case 'setQty': {
      const c = cmd as unknown as ItemCmd;
      const it = c.item;
      if (it) return void flat.push(id, key, ITEM, c.type, c.sku, c.qty, it.productId, it.name, it.unitPrice, it.currency, it.available);
      return void flat.push(id, key, ITEM_NONE, c.type, c.sku, c.qty);
    }
  }
  flat.push(id, key, OBJECT, cmd);
}

/** Reads every request of a flat batch back into objects (on the shard's thread). */
export function readRequests(flat: Flat): ShardRequest[] {
  const out: ShardRequest[] = [];
  let p = 0;
  while (p < flat.length) {
    const id = flat[p] as number;
    const key = flat[p + 1] as string;
    const shape = flat[p + 2] as number;
    const type = flat[p + 3] as string;
    let cmd: ShardRequest['cmd'];
    switch (shape) {
      case OBJECT:
        cmd = flat[p + 3] as ShardRequest['cmd'];
        p += 4;
        break;
      case BARE:
        cmd = { type };
        p += 4;
        break;
      case SKU:
        cmd = { type, sku: flat[p + 4] } as ShardRequest['cmd'];
        p += 5;
        break;
      case ITEM: {
        const item = { productId: flat[p + 6], name: flat[p + 7], unitPrice: flat[p + 8], currency: flat[p + 9], available: flat[p + 10] };
        cmd = { type, sku: flat[p + 4], qty: flat[p + 5], item } as ShardRequest['cmd'];
        p += 11;
        break;
      }
      case ITEM_NONE:
        cmd = { type, sku: flat[p + 4], qty: flat[p + 5] } as ShardRequest['cmd'];
        p += 6;
        break;
      default:
        throw new Error(`request codec: unknown shape ${String(shape)} at ${p}`);
    }
    out.push({ id, key, cmd });
  }
  return out;
}
