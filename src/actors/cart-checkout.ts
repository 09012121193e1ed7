// The cart's two multi-step decisions: merging a guest cart in at sign-in, and freezing the cart
// for a checkout under the user's idempotency key.
import { accept, reject, unchanged, type Decision, type ShardContext } from './actor.js';
import { Limits } from '../protocol/errors.js';
import { lineIndex, type Cart, type CartCommand, type CartEvent, type CartLine, type LineFacts } from './cart.js';

/**
 * A guest cart merges in: quantities of the same sku add up, within the limits (999 per line,
 * 100 lines, the available stock, the cart's currency), at today's catalog price. Lines that do
 * not fit are left out. The merge is one event that also records the guest id, version and
 * quantities, so the same merge sent twice (a retry after a crash) adds nothing, and a later
 * merge of the same guest adds only what its cart gained since.
 */
export function merge(cart: Cart, c: Extract<CartCommand, { type: 'merge' }>, now: number): Decision<CartEvent> {
  const prior = cart.merges?.find((m) => m.guestId === c.guestId);
  if (prior && prior.guestVersion >= c.guestVersion) return unchanged();
  const before = new Map(prior?.guestQty);
  let currency = cart.items.length > 0 ? cart.currency : undefined;
  let lineCount = cart.items.length;
  const lines: LineFacts[] = [];
  for (const l of c.lines) {
    const add = l.qty - (before.get(l.sku) ?? 0);
    const item = l.item;
    if (add <= 0 || !item || (currency !== undefined && item.currency !== currency)) continue;
    const line = cart.items[lineIndex(cart, l.sku)] as CartLine | undefined;
    if (!line && lineCount >= Limits.CART_MAX_LINES) continue;
    const have = line ? line.qty : 0;
    // Never below what the account already holds; never above the line limit or the stock.
    const qty = Math.max(have, Math.min(have + add, Limits.LINE_MAX_QTY, item.available));
    if (qty === 0 || (line && line.qty === qty && line.unitPrice === item.unitPrice && line.name === item.name)) continue;
    if (!line) lineCount++;
    currency ??= item.currency;
    lines.push({ sku: l.sku, productId: item.productId, name: item.name, qty, unitPrice: item.unitPrice });
  }
  if (lines.length === 0) return unchanged();
  const guestQty = c.lines.map((l): [string, number] => [l.sku, l.qty]);
  return accept([{ type: 'merged', guestId: c.guestId, guestVersion: c.guestVersion, guestQty, lines, currency: currency!, at: now }]);
}

export function checkout(cart: Cart, c: Extract<CartCommand, { type: 'checkout' }>, now: number, ctx: ShardContext): Decision<CartEvent> {
  const known = cart.keys?.find((k) => k.key === c.key);
  if (known) {
    if (known.fingerprint !== c.fingerprint || !known.versions.includes(cart.version)) {
      return reject('CONFLICT', 'this idempotencyKey was used for another checkout (a different cart or payment)', {
        idempotencyKey: c.key,
        orderId: known.orderId,
      });
    }
    return unchanged(); // the view names the order of that key
  }
  if (cart.checkout) return reject('CONFLICT', 'a checkout of this cart is in progress', { orderId: cart.checkout.orderId });
  if (cart.items.length === 0) return reject('CART_EMPTY', 'the cart is empty');
  // Only what is still sold, as it is sold now (lines carry the price of their last change).
  for (const l of cart.items) {
    const live = ctx.item(l.sku);
    if (live && !live.active) return reject('NOT_FOUND', `${l.sku} is no longer sold; remove it from the cart`, { sku: l.sku });
    if (live && live.currency !== cart.currency)
      return reject('CONFLICT', `${l.sku} is now priced in ${live.currency}, the cart in ${cart.currency}`, { sku: l.sku, currency: live.currency });
  }
  return accept([{ type: 'checkout_started', key: c.key, fingerprint: c.fingerprint, orderId: c.orderId, checkAt: now + c.deadlineMs, at: now }]);
}
