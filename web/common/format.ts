// Money and times as people read them. Money is an integer of minor units on the wire.
const formats = new Map<string, Intl.NumberFormat>();

/** `1900, 'USD'` -> `$19.00`. */
export function money(minor: number, currency = 'USD'): string {
  let f = formats.get(currency);
  if (!f) formats.set(currency, (f = new Intl.NumberFormat(undefined, { style: 'currency', currency })));
  return f.format(minor / 100);
}

export const time = (ms: number): string => new Date(ms).toLocaleTimeString();
export const dateTime = (ms: number): string => new Date(ms).toLocaleString();
