// The built-in gateway's tokenization: a card number becomes a gateway token (one of the
// simulator's behaviours) and a summary (brand, last4, expiry). The number and the cvc are
// checked and dropped here; nothing downstream ever sees them.

export interface Tokenized {
  gatewayToken: string;
  brand: string;
  last4: string;
}

/** The contract's test numbers; any other valid card approves. */
const TEST_CARDS: Readonly<Record<string, string>> = {
  '4242424242424242': 'tok_visa',
  '4000000000000002': 'tok_chargeDeclined',
  '4000000000009995': 'tok_insufficientFunds',
};

export function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

export function brandOf(digits: string): string {
  if (digits.startsWith('4')) return 'visa';
  const two = Number(digits.slice(0, 2));
  const four = Number(digits.slice(0, 4));
  if ((two >= 51 && two <= 55) || (four >= 2221 && four <= 2720)) return 'mastercard';
  if (two === 34 || two === 37) return 'amex';
  if (digits.startsWith('6011') || digits.startsWith('65')) return 'discover';
  return 'unknown';
}

/** Tokenizes a card, or says why it cannot (a message without the number). */
export function tokenizeCard(cardNumber: string, expMonth: number, expYear: number, now: Date): Tokenized | { refused: string } {
  if (!luhnValid(cardNumber)) return { refused: 'the card number fails its check digit' };
  // A card is valid through the last day of its expiry month.
  if (expYear < now.getUTCFullYear() || (expYear === now.getUTCFullYear() && expMonth < now.getUTCMonth() + 1)) return { refused: 'the card has expired' };
  const brand = brandOf(cardNumber);
  const gatewayToken = TEST_CARDS[cardNumber] ?? (brand === 'mastercard' ? 'tok_mastercard' : 'tok_visa');
  return { gatewayToken, brand, last4: cardNumber.slice(-4) };
}
