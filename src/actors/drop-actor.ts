// The product drop actor: one per drop, the single writer of its fair queue. Users who join
// before the start enter in the order of a random rank the server drew for each of them (with a
// cryptographic RNG, on the main thread: the actor stays pure), so the fastest bot gains nothing;
// later joiners queue behind them in join order. From the start, the actor's own durable timer
// admits users at `admitPerSecond`; an admitted user may check out the drop's sku until the
// window closes, up to `perUserLimit` units over the drop.
import type { DropAdmission, DropPlace, DropPosition, DropView } from '../protocol/types.js';
import { Limits } from '../protocol/errors.js';
import { accept, reject, unchanged, type ActorType, type Decision } from './actor.js';

export interface DropConfig {
  sku: string;
  startsAt: number;
  perUserLimit: number;
  admitPerSecond: number;
  checkoutWindowMs: number;
}

export interface Admission {
  admittedAt: number;
  expiresAt: number;
  /** Units claimed by this user's checkouts (counted from the start of a checkout, given back if it fails). */
  bought: number;
  /** orderId -> units of each claim (at most perUserLimit of them). */
  claims: Map<string, number>;
}

export interface Drop {
  dropId: string;
  /** Undefined until `create`. */
  config?: DropConfig;
  started: boolean;
  /** Before the start: joiners and their random ranks. */
  early: Map<string, number>;
  /** From the start: every queued user in admission order; `queue[0..head)` are admitted. */
  queue: string[];
  head: number;
  /** userId -> index in `queue`. */
  place: Map<string, number>;
  admitted: Map<string, Admission>;
  /** When the next user may be admitted (fractional ms: 1000 / admitPerSecond). */
  nextAdmitAt: number;
  /** The last admission step, and the last time every waiting user was told their position. */
  lastTickAt: number;
  positionsAt: number;
  version: number;
  updatedAt: number;
}

export type DropCommand =
  | { type: 'get' }
  | { type: 'create'; config: DropConfig }
  | { type: 'join'; userId: string; rank: number }
  /** A checkout (`orderId`) of `qty` units starts: counted against the limit, or refused FORBIDDEN. */
  | { type: 'claim'; userId: string; orderId: string; qty: number }
  /** That checkout failed: its units are given back. */
  | { type: 'release'; userId: string; orderId: string }
  | { type: 'timer' };

export type DropEvent =
  | { type: 'created'; config: DropConfig; at: number }
  | { type: 'joined'; userId: string; rank: number; at: number }
  | { type: 'started'; at: number }
  /** The next `count` users of the queue are admitted; `positions`: the others are told where they are. */
  | { type: 'admitted'; count: number; nextAdmitAt: number; positions: boolean; at: number }
  | { type: 'claimed'; userId: string; orderId: string; qty: number; at: number }
  | { type: 'unclaimed'; userId: string; orderId: string; at: number };

/** Why a checkout of the drop's sku is refused: FORBIDDEN `details: { reason: 'drop', why }`. */
export type DropRefusal = 'not_admitted' | 'window_closed' | 'limit';

export interface DropCheck {
  allowed: boolean;
  why?: DropRefusal;
  perUserLimit: number;
  bought: number;
}

/** Admission steps come at most this often: a fast drop admits several users per step. */
const MIN_TICK_MS = 100;
/** Position pushes per drop and second at most (each waiting user's place is one push). */
const POSITION_PUSHES_PER_SEC = 10_000;

const intervalOf = (c: DropConfig): number => 1000 / c.admitPerSecond;
const waiting = (s: Drop): number => (s.started ? s.queue.length - s.head : s.early.size);
const members = (s: Drop): number => (s.started ? s.queue.length : s.early.size);
const isMember = (s: Drop, userId: string): boolean => s.early.has(userId) || s.place.has(userId);

export function decide(s: Drop, c: DropCommand, now: number): Decision<DropEvent> {
  if (c.type === 'create') {
    if (s.config) return reject('CONFLICT', `drop ${s.dropId} exists`, { dropId: s.dropId });
    return accept([{ type: 'created', config: c.config, at: now }]);
  }
  const cfg = s.config;
  if (!cfg) return reject('NOT_FOUND', `unknown drop ${s.dropId}`, { dropId: s.dropId });
  switch (c.type) {
    case 'get':
      return unchanged();
    case 'join': {
      if (isMember(s, c.userId)) return unchanged(); // the first place is kept
      if (members(s) >= Limits.DROP_MAX_QUEUE) {
        return reject('LIMIT_EXCEEDED', `drop ${s.dropId} is full (${Limits.DROP_MAX_QUEUE} users)`, { dropId: s.dropId, maxQueue: Limits.DROP_MAX_QUEUE });
      }
      return accept([{ type: 'joined', userId: c.userId, rank: c.rank, at: now }]);
    }
    case 'claim': {
      if (s.admitted.get(c.userId)?.claims.has(c.orderId)) return unchanged(); // a retried claim
      const r = check(s, c.userId, c.qty, now);
      if (!r.allowed)
        return reject('FORBIDDEN', refusalMessage(s, r.why!), {
          reason: 'drop',
          dropId: s.dropId,
          sku: cfg.sku,
          why: r.why,
          perUserLimit: r.perUserLimit,
          bought: r.bought,
        });
      return accept([{ type: 'claimed', userId: c.userId, orderId: c.orderId, qty: c.qty, at: now }]);
    }
    case 'release':
      if (!s.admitted.get(c.userId)?.claims.has(c.orderId)) return unchanged();
      return accept([{ type: 'unclaimed', userId: c.userId, orderId: c.orderId, at: now }]);
    case 'timer':
      return accept(tick(s, cfg, now));
  }
}

/** The start (once its time has come) and the admissions due by `now`. */
function tick(s: Drop, cfg: DropConfig, now: number): DropEvent[] {
  const events: DropEvent[] = [];
  if (!s.started) {
    if (now < cfg.startsAt) return events;
    events.push({ type: 'started', at: now });
  }
  const left = waiting(s);
  let due = s.started ? s.nextAdmitAt : cfg.startsAt;
  if (left === 0 || now < due) return events;
  const interval = intervalOf(cfg);
  // After a stop the queue resumes at its rate: never more than one second's worth at once.
  if (due < now - 1000) due = now - 1000;
  const count = Math.min(left, 1 + Math.floor((now - due) / interval), cfg.admitPerSecond);
  const rest = left - count;
  // Small queues hear every move; big ones at most POSITION_PUSHES_PER_SEC pushes a second.
  const positions = rest > 0 && (!s.started || rest <= ((now - s.positionsAt) * POSITION_PUSHES_PER_SEC) / 1000);
  events.push({ type: 'admitted', count, nextAdmitAt: due + count * interval, positions, at: now });
  return events;
}

export function apply(s: Drop, e: DropEvent): Drop {
  switch (e.type) {
    case 'created':
      s.config = e.config;
      s.nextAdmitAt = e.config.startsAt;
      break;
    case 'joined':
      if (s.started) {
        s.place.set(e.userId, s.queue.length);
        s.queue.push(e.userId);
      } else s.early.set(e.userId, e.rank);
      break;
    case 'started': {
      // Ranks are random: sorting by them is a uniform shuffle (ties, vanishingly rare, by id).
      const order = [...s.early].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1)).map(([u]) => u);
      s.early.clear();
      s.queue = order;
      order.forEach((u, i) => s.place.set(u, i));
      s.started = true;
      s.positionsAt = e.at;
      break;
    }
    case 'admitted': {
      const expiresAt = e.at + s.config!.checkoutWindowMs;
      for (let i = s.head; i < s.head + e.count; i++) s.admitted.set(s.queue[i], { admittedAt: e.at, expiresAt, bought: 0, claims: new Map() });
      s.head += e.count;
      s.nextAdmitAt = e.nextAdmitAt;
      s.lastTickAt = e.at;
      if (e.positions) s.positionsAt = e.at;
      break;
    }
    case 'claimed': {
      const a = s.admitted.get(e.userId)!;
      a.bought += e.qty;
      a.claims.set(e.orderId, e.qty);
      break;
    }
    case 'unclaimed': {
      const a = s.admitted.get(e.userId)!;
      a.bought -= a.claims.get(e.orderId) ?? 0;
      a.claims.delete(e.orderId);
      break;
    }
  }
  s.version++;
  s.updatedAt = e.at;
  return s;
}

export function check(s: Drop, userId: string, qty: number, now: number): DropCheck {
  const cfg = s.config!;
  const a = s.admitted.get(userId);
  const out = { perUserLimit: cfg.perUserLimit, bought: a?.bought ?? 0 };
  if (!a) return { allowed: false, why: 'not_admitted', ...out };
  if (now >= a.expiresAt) return { allowed: false, why: 'window_closed', ...out };
  if (a.bought + qty > cfg.perUserLimit) return { allowed: false, why: 'limit', ...out };
  return { allowed: true, ...out };
}

function refusalMessage(s: Drop, why: DropRefusal): string {
  const c = s.config!;
  if (why === 'limit') return `at most ${c.perUserLimit} of ${c.sku} per user in drop ${s.dropId}`;
  if (why === 'window_closed') return `the checkout window of drop ${s.dropId} has closed`;
  return `${c.sku} is sold through drop ${s.dropId}: join it and wait to be admitted`;
}

export function dropView(s: Drop): DropView {
  const c = s.config!;
  return {
    dropId: s.dropId,
    sku: c.sku,
    startsAt: c.startsAt,
    perUserLimit: c.perUserLimit,
    admitPerSecond: c.admitPerSecond,
    checkoutWindowMs: c.checkoutWindowMs,
    started: s.started,
    joined: members(s),
    admitted: s.head,
    maxQueue: Limits.DROP_MAX_QUEUE,
  };
}

export function placeOf(s: Drop, userId: string): DropPlace {
  const startsAt = s.config!.startsAt;
  const a = s.admitted.get(userId);
  if (a) return { dropId: s.dropId, position: 0, ahead: 0, admitted: true, expiresAt: a.expiresAt, startsAt };
  const i = s.place.get(userId);
  if (i === undefined) return { dropId: s.dropId, position: null, ahead: null, admitted: false, startsAt };
  return { dropId: s.dropId, position: i - s.head + 1, ahead: i - s.head, admitted: false, startsAt };
}

/** Pushes to the users an event concerns: admissions, and the new places of those still waiting. */
export function userPushes(s: Drop, events: readonly DropEvent[]): { name: string; topic: string; data: unknown }[] {
  const out: { name: string; topic: string; data: unknown }[] = [];
  for (const e of events) {
    if (e.type === 'admitted') {
      for (let i = s.head - e.count; i < s.head; i++) {
        const userId = s.queue[i];
        const a = s.admitted.get(userId)!;
        const data: DropAdmission = { dropId: s.dropId, sku: s.config!.sku, admittedAt: a.admittedAt, expiresAt: a.expiresAt };
        out.push({ name: 'drop.admitted', topic: dropsTopic(userId), data });
      }
    }
  }
  // Once per change, after every event: the places as they are now.
  if (events.some((e) => e.type === 'admitted' && e.positions) || (events.some((e) => e.type === 'started') && !events.some((e) => e.type === 'admitted'))) {
    for (let i = s.head; i < s.queue.length; i++) {
      const data: DropPosition = { dropId: s.dropId, position: i - s.head + 1, ahead: i - s.head };
      out.push({ name: 'drop.position', topic: dropsTopic(s.queue[i]), data });
    }
  }
  return out;
}

/** Topic of a user's drop pushes (`drop.position`, `drop.admitted`). */
export const dropsTopic = (userId: string): string => `drops:${userId}`;

export function nextTimer(s: Drop): number | undefined {
  const cfg = s.config;
  if (!cfg) return undefined;
  if (!s.started) return cfg.startsAt;
  if (s.head >= s.queue.length) return undefined;
  return Math.ceil(Math.max(s.nextAdmitAt, s.lastTickAt + MIN_TICK_MS));
}

export function create(dropId: string): Drop {
  return {
    dropId,
    started: false,
    early: new Map(),
    queue: [],
    head: 0,
    place: new Map(),
    admitted: new Map(),
    nextAdmitAt: 0,
    lastTickAt: 0,
    positionsAt: 0,
    version: 0,
    updatedAt: 0,
  };
}

interface DropSnapshot {
  config?: DropConfig;
  started: boolean;
  early: [string, number][];
  queue: string[];
  head: number;
  admitted: [string, number, number, number, [string, number][]][];
  nextAdmitAt: number;
  lastTickAt: number;
  positionsAt: number;
  version: number;
  updatedAt: number;
}

export type DropResults = {
  readonly get: DropView;
  readonly create: DropView;
  readonly join: DropPlace;
  readonly claim: DropCheck;
  readonly release: DropView;
  readonly timer: DropView;
};

export const DropActor: ActorType<Drop, DropCommand, DropEvent, DropResults> = {
  kind: 'drop',
  create,
  decide,
  apply,
  view: (s, c) => {
    if (c.type === 'join') return placeOf(s, c.userId);
    if (c.type === 'claim') {
      const a = s.admitted.get(c.userId);
      return { allowed: true, perUserLimit: s.config!.perUserLimit, bought: a?.bought ?? 0 };
    }
    return dropView(s);
  },
  nextTimer,
  userPushes,
  // A snapshot holds the whole queue: a long one is snapshotted less often (after as many joins).
  snapshotWeight: (s) => members(s),
  snapshot: (s): DropSnapshot => ({
    ...(s.config ? { config: { ...s.config } } : {}),
    started: s.started,
    early: [...s.early],
    queue: [...s.queue],
    head: s.head,
    admitted: [...s.admitted].map(([u, a]) => [u, a.admittedAt, a.expiresAt, a.bought, [...a.claims]]),
    nextAdmitAt: s.nextAdmitAt,
    lastTickAt: s.lastTickAt,
    positionsAt: s.positionsAt,
    version: s.version,
    updatedAt: s.updatedAt,
  }),
  restore(dropId, data) {
    const d = data as DropSnapshot;
    const s = create(dropId);
    if (d.config) s.config = { ...d.config };
    s.started = d.started;
    s.early = new Map(d.early);
    s.queue = d.queue;
    s.queue.forEach((u, i) => s.place.set(u, i));
    s.head = d.head;
    s.admitted = new Map(d.admitted.map(([u, admittedAt, expiresAt, bought, claims]) => [u, { admittedAt, expiresAt, bought, claims: new Map(claims) }]));
    s.nextAdmitAt = d.nextAdmitAt;
    s.lastTickAt = d.lastTickAt;
    s.positionsAt = d.positionsAt;
    s.version = d.version;
    s.updatedAt = d.updatedAt;
    return s;
  },
};
