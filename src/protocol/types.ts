// Shapes of the objects the server returns (PROTOCOL.md "Operations"). Every result is the full
// current object, so a client never merges.

export interface CartLineView {
  sku: string;
  productId: string;
  name: string;
  qty: number;
  unitPrice: number;
  lineTotal: number;
}

export interface CartView {
  cartId: string;
  userId: string;
  version: number;
  currency: string;
  items: CartLineView[];
  coupon?: string;
  subtotal: number;
  discount: number;
  tax: number;
  shipping: number;
  total: number;
  updatedAt: number;
}

export interface WarehouseStock {
  onHand: number;
  reserved: number;
}

export interface InventoryView {
  sku: string;
  onHand: number;
  reserved: number;
  available: number;
  lowStockThreshold: number;
  warehouses: Record<string, WarehouseStock>;
  version: number;
  updatedAt: number;
}

export interface VariantView {
  sku: string;
  price: number;
  currency: string;
  attributes?: Record<string, string>;
  /** Live availability (onHand - reserved); present on catalog reads. */
  available?: number;
}

export type ProductStatus = 'active' | 'draft' | 'archived';

export interface ProductView {
  productId: string;
  name: string;
  category: string;
  brand?: string;
  description?: string;
  attributes?: Record<string, string>;
  status: ProductStatus;
  variants: VariantView[];
  createdAt: number;
  updatedAt: number;
}

export interface Push<T = unknown> {
  push: string;
  data: T;
}
