// Made from src/protocol/types.ts by `npm run sdk:protocol`; edit the original, not this copy.
// Shapes of the objects the server returns. Every result is the full current object, so a
// client never merges.

export type Role = 'guest' | 'customer' | 'admin';

/** Who a connection or token is. */
export interface Identity {
  userId: string;
  role: Role;
}

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
  /** In display order; always present on catalog reads (absent on products stored before images existed). */
  images?: ImageView[];
  createdAt: number;
  updatedAt: number;
}

/** A product image: the original at `url`; `srcset` lists its WebP copies (200, 400 and 800 px wide, never enlarged). */
export interface ImageView {
  mediaId: string;
  alt: string;
  width: number;
  height: number;
  url: string;
  srcset: string;
}

export interface Push<T = unknown> {
  push: string;
  data: T;
}

export type OrderStatus = 'pending' | 'confirmed' | 'processing' | 'shipped' | 'delivered' | 'cancelled' | 'refunded' | 'returned';
export type PaymentStatus = 'pending' | 'approved' | 'declined' | 'voided' | 'partially_refunded' | 'refunded';

export interface ShippingAddress {
  name: string;
  line1: string;
  line2?: string;
  city: string;
  region?: string;
  postalCode: string;
  country: string;
  phone?: string;
  /** The owner's personal data was erased: only the country is left, for the books. */
  erased?: true;
}

export interface OrderTotals {
  subtotal: number;
  discount: number;
  tax: number;
  shipping: number;
  total: number;
}

export interface OrderView {
  orderId: string;
  /** Human-readable, for receipts and support (`CW-2611-4F7K2Q`). */
  orderNumber: string;
  userId: string;
  status: OrderStatus;
  items: CartLineView[];
  coupon?: string;
  totals: OrderTotals;
  currency: string;
  payment: { status: PaymentStatus; transactionId: string | null; riskScore: number | null; refunded: number };
  /** A risk score of 0.5-0.8 confirms the order but flags it for review (the reasons go to admins in `order_paid`). */
  review?: { flagged: true };
  /** Why a checkout did not complete (status `cancelled` before confirmation). */
  failure?: { code: string; message: string; details?: Record<string, unknown> };
  shipment?: { carrier?: string; trackingNumber?: string; shippedAt: number; deliveredAt?: number };
  refunds: { refundId: string; amount: number; reason?: string; at: number }[];
  shippingAddress: ShippingAddress;
  createdAt: number;
  updatedAt: number;
  version: number;
}

/** Per-shard summary of `GET /snapshot` (admin). */
export interface ShardSummary {
  shard: number;
  actors: number;
  /** Journal rows after the watermark (what a restart indexes). */
  journalRows: number;
  /** g of the last journal row, and the g up to which a checkpoint covers the journal. */
  journalPosition: number;
  watermark: number;
  appendedSinceStart: number;
  snapshots: number;
  lastSnapshotAt: number | null;
  timers: number;
  /** Actors with at least one subscriber (their changes are encoded as pushes). */
  watchedActors: number;
  adminFeed: boolean;
  /**
   * Keys of the actors quarantined since start: a stored record of theirs is corrupt, so every
   * request for them answers UNAVAILABLE (reason `corrupt`) until an operator repairs them
   * (docs/operations.md "Corrupt records"). Its length is the count.
   */
  quarantined: string[];
  /** The shard thread's V8 heap: live objects and what the heap holds from the OS for them. */
  heapUsedBytes: number;
  heapTotalBytes: number;
}

/** `GET /snapshot` (admin): every shard's summary and the process's memory as a whole. */
export interface SnapshotSummary {
  shards: ShardSummary[];
  /**
   * Resident memory of the whole process, the main thread's V8 heap and off-heap buffers, and
   * what the C allocator holds for every thread (`cHeap`; null where glibc's figures are not reachable).
   */
  process: {
    rssBytes: number;
    heapUsedBytes: number;
    heapTotalBytes: number;
    externalBytes: number;
    arrayBuffersBytes: number;
    cHeap: { inUseBytes: number; freeBytes: number; mappedBytes: number } | null;
  };
}

/** One shard's part of `POST /snapshot` (admin). */
export interface SnapshotResult {
  shard: number;
  actors: number;
  durationMs: number;
}

export interface AuthResult {
  token: string;
  userId: string;
  role: Role;
}

/** What coupon.upsert returns. */
export interface CouponView {
  code: string;
  percentOff?: number;
  amountOff?: number;
  currency?: string;
  minSubtotal?: number;
  expiresAt?: number;
  maxRedemptions?: number;
  redeemed: number;
  held: number;
  version: number;
  updatedAt: number;
}

/** One recommended product and why. */
export interface RecommendationView {
  productId: string;
  score: number;
  reason: string;
  algorithm: 'itemknn' | 'userknn' | 'content' | 'rp3beta' | 'ease' | 'popularity' | 'newest' | 'hybrid';
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** The data of an inventory.lowStock push. */
export interface LowStockAlert {
  sku: string;
  available: number;
  lowStockThreshold: number;
  version: number;
}

/** The actor kinds `audit.*` reads, as the wire names them. */
export type AuditActor = 'inventory' | 'cart' | 'order' | 'coupon';

/** One journaled event of an actor (`audit.history`): its change number, time, type and facts. */
export interface AuditEntry {
  /** The actor's change number (every event of one change shares it). */
  seq: number;
  at: number | null;
  event: string;
  data: Record<string, unknown>;
  by?: string;
}

/** `audit.stateAt`: the actor as it was at `at`; `state` is null when it did not exist yet. */
export interface AuditState {
  actor: AuditActor;
  key: string;
  at: number;
  /** The change the state is after (0: none). */
  seq: number;
  state: unknown;
}

/** A product drop as its admin sees it (`drop.create`). */
export interface DropView {
  dropId: string;
  sku: string;
  startsAt: number;
  perUserLimit: number;
  admitPerSecond: number;
  checkoutWindowMs: number;
  /** Whether the start has passed and the pre-start joiners were shuffled into the queue. */
  started: boolean;
  /** Users in the drop: waiting and admitted. */
  joined: number;
  admitted: number;
  maxQueue: number;
}

/**
 * A user's place in a drop (`drop.join`). Before the start the order is not drawn yet:
 * `position` and `ahead` are null until the start.
 */
export interface DropPlace {
  dropId: string;
  position: number | null;
  ahead: number | null;
  admitted: boolean;
  /** Admitted: when the checkout window closes. */
  expiresAt?: number;
  startsAt: number;
}

/** The data of a drop.position push. */
export interface DropPosition {
  dropId: string;
  position: number;
  ahead: number;
}

/** The data of a drop.admitted push. */
export interface DropAdmission {
  dropId: string;
  sku: string;
  admittedAt: number;
  expiresAt: number;
}

// Accounts: profile, address book, payment methods.

export interface Preferences {
  language: string;
  currency: string;
  marketing: boolean;
  /** false: recs.forUser answers popularity only and the user's interactions are not recorded. */
  personalizedRecs: boolean;
}

export interface UserView {
  userId: string;
  email?: string;
  name: string;
  username?: string;
  role: Role;
  preferences: Preferences;
  createdAt: number;
  updatedAt: number;
}

/** An address book entry: a shipping address (never an erased one) with its id. */
export interface AddressView extends Omit<ShippingAddress, 'erased'> {
  addressId: string;
  isDefault: boolean;
}

/** What the gateway's tokenization leaves: never the card number or cvc. */
export interface PaymentMethodView {
  paymentMethodId: string;
  brand: string;
  last4: string;
  expMonth: number;
  expYear: number;
}

/** An account as `user.list` shows it to an admin. */
export interface UserListItem extends UserView {
  erased?: true;
}

/** `user.export`: every stored fact about the caller. */
export interface UserExport {
  user: UserView;
  addresses: AddressView[];
  paymentMethods: PaymentMethodView[];
  orders: unknown[];
  events: unknown[];
}
