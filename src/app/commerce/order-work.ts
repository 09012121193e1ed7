// The effects an order owes after a cancel, refund or return (the `work` the order actor recorded
// first): a refund at the gateway (once per refund id) and the units back in stock (once per
// reference). Both are idempotent, so a resumed work item simply runs again.
import type { Order } from '../../actors/order-actor.js';
import type { PaymentGateway } from '../../actors/payment-gateway.js';
import type { OrderView } from '../../protocol/types.js';
import type { ShardPool } from '../shard-pool.js';
import type { Answer } from '../../transport/dispatch.js';
import { orderKey, skuKey } from '../../protocol/keys.js';

export async function runOrderWork(o: Order, gateway: PaymentGateway, pool: ShardPool): Promise<Answer<OrderView>> {
  const w = o.work!;
  if (w.amount > 0) await gateway.refund(o.orderId, w.id, w.amount, w.reason);
  if (w.restock) {
    const done = await Promise.all(
      o.items.map((l) => pool.call(skuKey(l.sku), { type: 'restock', ref: w.id, qty: l.qty, txType: 'return', reason: `order ${o.orderId} ${w.kind}` })),
    );
    const failed = done.find((r) => !r.ok);
    // The order's timer retries the whole (idempotent) work later.
    if (failed) return failed;
  }
  return pool.call(orderKey(o.orderId), { type: 'workDone', workId: w.id });
}
