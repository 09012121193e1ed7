// Money is an integer number of minor units plus a currency code; never a float.

export const DEFAULT_CURRENCY = 'USD';

/** Rounds a non-negative rational amount half up to the minor unit (discounts, docs/protocol.md). */
export function roundHalfUp(numerator: number, denominator: number): number {
  return Math.floor((2 * numerator + denominator) / (2 * denominator));
}
