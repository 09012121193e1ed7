// What every actor type provides: pure decide, event apply, a view for replies, and
// snapshot/restore. The shard runtime (src/workers/) is the only caller; actors do no I/O and
// receive time and ids as arguments.
import type { ErrorCode, WireError } from '../protocol/errors.js';
import type { DomainEventName } from '../protocol/pushes.js';
import type { PricingConfig } from './pricing.js';

export type Decision<E> = { readonly events: readonly E[]; readonly error?: undefined } | { readonly error: WireError };

const NO_EVENTS: readonly never[] = Object.freeze([]);

export function accept<E>(events: readonly E[]): Decision<E> {
  return { events };
}

/** A decision that changes nothing: the reply is the current view, the version is kept. */
export function unchanged<E>(): Decision<E> {
  return { events: NO_EVENTS };
}

export function reject<E>(code: ErrorCode, message: string, details?: Record<string, unknown>): Decision<E> {
  return { error: details ? { code, message, details } : { code, message } };
}

/** A fact of the domain (the push table's domain events): logged durably with the commit, then published. */
export interface DomainEvent {
  name: DomainEventName;
  data: Record<string, unknown>;
}

/** A sku's live catalog facts, as every shard holds them. */
export interface LivePrice {
  productId: string;
  name: string;
  unitPrice: number;
  currency: string;
  active: boolean;
}

/**
 * Opens personal data sealed under a user's data key (an order's address copy): the plaintext,
 * or undefined once the user's key is destroyed (erasure).
 */
export type SealedOpener = (userId: string, sealed: string) => string | undefined;

/** What a shard knows besides the actor's own state: live prices and the shop's pricing rules. */
export interface ShardContext {
  item(sku: string): LivePrice | undefined;
  readonly pricing: PricingConfig;
  /** Present where sealed personal data can be opened. */
  readonly openSealed?: SealedOpener;
}

/** A command's reply type by command type: what `view` answers to each command. */
export type ResultsFor<C extends { type: string }> = { readonly [T in C['type']]: unknown };

export interface ActorType<S, C extends { type: string }, E, R extends ResultsFor<C> = ResultsFor<C>> {
  /** Prefix of the actor keys of this type: `cart` for `cart:<userId>`. */
  readonly kind: string;
  /** Phantom: the reply type of each command, for typed callers (registry.ts). */
  readonly __results?: R;
  /** The state of an actor that has never recorded an event. */
  create(id: string): S;
  decide(state: S, command: C, now: number, ctx: ShardContext): Decision<E>;
  /**
   * Applies an event and returns the state. Events are facts: no checks here. It may mutate the
   * state it is given (copying a sku's hold table per reservation would be quadratic); the
   * runtime never keeps an old state around, and a failed commit evicts the actor instead.
   */
  apply(state: S, event: E): S;
  /** Name of the push a subscriber gets after each change (`cart.updated`); the data is `view`. */
  readonly pushName?: string;
  /** Where pushes go (default: the actor key, for connections that watch it). */
  pushTopic?(state: S): string;
  /** Push after every change whether or not anyone watches the actor (per-user topics such as orders). */
  readonly pushAlways?: boolean;
  /**
   * Pushes to other topics than the actor's own, after a change (a drop tells each user concerned):
   * sent whether or not anyone follows them, like `pushAlways`.
   */
  userPushes?(state: S, events: readonly E[]): readonly { name: string; topic: string; data: unknown }[];
  /** The version clients see; when an event leaves it unchanged, no push is sent (internal bookkeeping). */
  version?(state: S): number;
  /** Domain events of an actor event, given the state before it is applied. */
  domain?(before: S, event: E): DomainEvent | readonly DomainEvent[] | undefined;
  /** The reply object after a command (the full current object the protocol promises). */
  view(state: S, command: C, ctx: ShardContext): R[C['type']];
  /** Epoch ms at which the actor wants a `timer` command, if any (must survive restarts). */
  nextTimer?(state: S): number | undefined;
  /**
   * Idle time after which an actor of this type leaves memory, when shorter than
   * PASSIVATE_AFTER_MS: one actor per order would otherwise pile up at thousands per second.
   */
  readonly idleMs?: number;
  /** Journal rows between inline snapshots grow with this (a sku with 5,000 holds snapshots less often). */
  snapshotWeight?(state: S): number;
  snapshot(state: S): unknown;
  restore(id: string, data: unknown): S;
}

/**
 * On the first command to an actor whose id the server minted just now (an order's `create`, its
 * ledger's first `charge`): nothing can be stored under that key, so the shard activates it
 * without the journal lookup that would find nothing. Only ever set by the sender that minted the
 * id, on that id's first command; the shard still recovers a key it knows has rows.
 */
export interface FreshHint {
  readonly fresh?: true;
}

/** The command the runtime sends when an actor's timer is due. */
export interface TimerCommand {
  readonly type: 'timer';
}
