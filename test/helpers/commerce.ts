// Shared steps of the commerce tests: stocking a sku, and reading error answers.
import assert from 'node:assert/strict';
import { CartwireError, type CartwireClient } from '../../src/client/index.js';

export const ADDRESS_GB = { name: 'Ada Lovelace', line1: '12 St James Sq', city: 'London', postalCode: 'SW1Y 4JH', country: 'GB' };

/** A product `productId` (default: the sku) with one variant, and `qty` units on hand. */
export async function stockedSku(admin: CartwireClient, sku: string, qty: number, price = 1000, productId = sku): Promise<void> {
  await admin.call('catalog.upsert', { productId, name: `Product ${sku}`, category: 'test', variants: [{ sku, price }] });
  await admin.call('inventory.adjust', { sku, type: 'adjustment', qty, reason: 'test stock' });
}

/** The coded error a call answered (fails the test when it succeeded). */
export async function errorOf(p: Promise<unknown>): Promise<CartwireError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof CartwireError) return err;
    throw err;
  }
  assert.fail('expected an error answer');
}

/** Asserts the answer is `code`, and returns its details. */
export async function refused(p: Promise<unknown>, code: string, what: string): Promise<Record<string, unknown>> {
  const e = await errorOf(p);
  assert.equal(e.code, code, `${what}: ${e.message}`);
  return e.details ?? {};
}
