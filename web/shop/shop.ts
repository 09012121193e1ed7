// What every storefront view gets: the connection, the live cart, and adding to it.
import type { CartView, CartwireClient, ProductView, Session } from '@cartwire/client';
import { useEffect, useState } from 'preact/hooks';

export interface Shop {
  client: CartwireClient;
  session: Session;
  /** The live cart (null until the first answer). */
  cart: CartView | null;
  /** Adds one of `sku`; resolves with an error text, or undefined when it worked. */
  add(sku: string, qty?: number): Promise<string | undefined>;
}

export const TOKEN_KEY = 'cartwire.token';

/** Units in the cart (what the "Cart" status shows). */
export const cartQty = (cart: CartView | null): number => (cart ? cart.items.reduce((n, l) => n + l.qty, 0) : 0);

/** Live availability of one sku: inventory.subscribe while shown, starting from what the catalog said. */
export function useStock(client: CartwireClient, sku: string, initial: number | undefined): number | undefined {
  const [available, setAvailable] = useState(initial);
  useEffect(() => {
    setAvailable(initial);
    if (!sku) return;
    const stop = client.subscribe({ inventory: sku }, (inv) => setAvailable(inv.available), { onError: () => undefined });
    stop.ready.catch(() => undefined);
    return () => void stop().catch(() => undefined);
  }, [client, sku]);
  return available;
}

/** One product from the catalog (null while loading, undefined when gone). */
export function useProduct(client: CartwireClient, productId: string): ProductView | null | undefined {
  const [product, setProduct] = useState<ProductView | null | undefined>(null);
  useEffect(() => {
    setProduct(null);
    client.call('catalog.get', { productId }).then(setProduct, () => setProduct(undefined));
  }, [client, productId]);
  return product;
}

export const stockText = (available: number | undefined): string =>
  available === undefined ? '' : available === 0 ? 'Out of stock' : available <= 5 ? `Only ${available} left` : `${available} in stock`;
