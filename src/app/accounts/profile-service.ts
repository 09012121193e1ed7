// Profile, sessions, export and erasure of an account, and the admin's view of accounts. Token
// revocation is a generation per account: every token carries the generation it was issued
// under; logout, a password change, a role change and erasure move it on, and the connections
// signed in as that user lose their identity at once (revoke: this node's, and in a cluster the
// other nodes' too).
import type { OpArgs, Page } from '../../protocol/ops.js';
import type { Identity, OrderView } from '../../protocol/types.js';
import type { AuthResult } from '../../protocol/ops.js';
import type { UserExport, UserListItem, UserView } from '../../protocol/types.js';
import type { UserRecord } from '../../persistence/user-store.js';
import { normalizeEmail } from '../../persistence/user-store.js';
import { fail, type Answer } from '../../transport/dispatch.js';
import { log } from '../../log/log.js';
import type { Auth } from './auth.js';
import { emptyProfile, type AccountRecords } from './account-records.js';
import { summary } from './address-book.js';
import type { Profile } from './user-vault.js';

/** Orders a `user.export` carries at most (newest first). */
const EXPORT_MAX_ORDERS = 1_000;
const LIST_DEFAULT = 20;

export interface ProfileDeps {
  records: AccountRecords;
  auth: Auth;
  /** A password attempt against the sign-in limits: a refusal, or undefined to go on (then `passed`). */
  attempt(ip: string, key: string): Answer<never> | undefined;
  passed(ip: string, key: string): void;
  /** The caller's orders, one page at a time. */
  orders(who: Identity, cursor: string | undefined): Promise<Answer<Page<OrderView>>>;
  /** The user's events in the domain event log. */
  events(userId: string): Promise<unknown[]>;
}

export function userView(u: UserRecord | undefined, p: Profile, who: Identity): UserView {
  const v: UserView = {
    userId: who.userId,
    name: p.name,
    role: u?.role ?? who.role,
    preferences: p.preferences,
    createdAt: u?.createdAt ?? 0,
    updatedAt: u?.updatedAt ?? 0,
  };
  if (p.email !== undefined) v.email = p.email;
  if (p.username !== undefined) v.username = p.username;
  return v;
}

const forbidden = (message: string) => fail('FORBIDDEN', message);

export class ProfileService {
  /** Drops the identity of every connection of a user (set by the server once the edge exists). */
  revoke: (userId: string) => void = () => undefined;

  constructor(private readonly d: ProfileDeps) {}

  async get(who: Identity): Promise<Answer<UserView>> {
    const r = await this.d.records.read(who);
    return 'error' in r ? { ok: false, error: r.error } : { ok: true, result: userView(r.row, r.profile, who) };
  }

  update(who: Identity, a: OpArgs<'user.update'>): Promise<Answer<UserView>> {
    return this.d.records.mutate(
      who,
      (p) => {
        if (a.name !== undefined) p.name = a.name;
        if (a.username !== undefined) p.username = a.username;
        if (a.preferences) p.preferences = { ...p.preferences, ...a.preferences };
        return { profile: p, result: (u, q) => userView(u, q, who) };
      },
      { code: 'CONFLICT', message: 'this username is taken' },
    );
  }

  /** Checks the caller's password under the sign-in limits; the account row when it is right. */
  private async withPassword(who: Identity, password: string, ip: string): Promise<Answer<UserRecord>> {
    const key = `user:${who.userId}`;
    const limited = this.d.attempt(ip, key);
    if (limited) return limited;
    const u = await this.d.records.vault.store.get(who.userId);
    if (!u || u.passwordHash === null || u.erasedAt !== null) return forbidden('this account has no password (guests sign up first)');
    if (!(await this.d.auth.checkPassword(u, password))) return forbidden('the password is wrong');
    this.d.passed(ip, key);
    return { ok: true, result: u };
  }

  async changePassword(who: Identity, a: OpArgs<'auth.changePassword'>, ip: string): Promise<Answer<AuthResult>> {
    const checked = await this.withPassword(who, a.oldPassword, ip);
    if (!checked.ok) return checked;
    const passwordHash = await this.d.auth.hashPassword(a.newPassword);
    const r = await this.d.records.mutateRow(who.userId, (u) => ({ passwordHash, tokenGen: u.tokenGen + 1 }));
    if (!r.ok) return r;
    this.revoke(who.userId);
    return { ok: true, result: await this.d.auth.issue({ userId: who.userId, role: r.result.role }, r.result.tokenGen) };
  }

  async logout(who: Identity): Promise<Answer<Record<string, never>>> {
    const row = await this.d.records.vault.store.get(who.userId);
    // A guest without a row gets one now: its generation is what refuses its old tokens.
    const r = row
      ? await this.d.records.mutateRow(who.userId, (u) => ({ tokenGen: u.tokenGen + 1 }))
      : await this.d.records.mutate(who, (p) => ({ profile: p, row: { tokenGen: 1 }, result: () => undefined }));
    if (!r.ok) return r;
    this.revoke(who.userId);
    return { ok: true, result: {} };
  }

  async export(who: Identity): Promise<Answer<UserExport>> {
    const r = await this.d.records.read(who);
    if ('error' in r) return { ok: false, error: r.error };
    // The events are gathered while the orders are paged (in cluster mode both ask every node).
    // A shard restarting or a node not answering rejects it: the export is whole or UNAVAILABLE.
    const events = this.d.events(who.userId);
    events.catch(() => undefined); // awaited below, or not waited for when the orders fail first
    const orders: OrderView[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.d.orders(who, cursor);
      if (!page.ok) return page;
      orders.push(...page.result.items);
      cursor = page.result.nextCursor ?? undefined;
    } while (cursor !== undefined && orders.length < EXPORT_MAX_ORDERS);
    const eventList = await events;
    return {
      ok: true,
      result: {
        user: userView(r.row, r.profile, who),
        addresses: r.profile.addresses,
        paymentMethods: r.profile.paymentMethods.map(summary),
        orders,
        events: eventList,
      },
    };
  }

  /**
   * Crypto-shredding: the wrapped data key, the sealed profile and the lookup hashes are removed
   * in one write; every copy sealed under that key (the address copies in orders, backups of
   * either) is unreadable from then on. Orders keep their totals and items for the books.
   */
  async erase(who: Identity, a: OpArgs<'user.erase'>, ip: string): Promise<Answer<Record<string, never>>> {
    if (who.role === 'guest') return forbidden('only an account can be erased; a guest keeps nothing once it leaves');
    const checked = await this.withPassword(who, a.password, ip);
    if (!checked.ok) return checked;
    const now = Date.now();
    const r = await this.d.records.mutateRow(who.userId, (u) => ({
      wrappedKey: null,
      sealed: null,
      emailHash: null,
      usernameHash: null,
      passwordHash: null,
      personalizedRecs: true,
      tokenGen: u.tokenGen + 1,
      erasedAt: now,
    }));
    if (!r.ok) return r;
    this.d.records.vault.forget(who.userId);
    this.d.records.forgetOptOut(who.userId);
    await this.d.records.vault.store.scrub();
    this.revoke(who.userId);
    log.info(`account ${who.userId} erased`);
    return { ok: true, result: {} };
  }

  /** Admin: accounts by id, or the one an exact email, username or id names. */
  async list(a: OpArgs<'user.list'>): Promise<Answer<Page<UserListItem>>> {
    const store = this.d.records.vault.store;
    if (a.q !== undefined) {
      const q = a.q.trim();
      const hit = q.includes('@')
        ? await store.findByEmailHash(this.d.records.vault.emailHash(normalizeEmail(q)))
        : ((await store.get(q)) ?? (await store.findByUsernameHash(this.d.records.vault.usernameHash(q.toLowerCase()))));
      return { ok: true, result: { items: hit ? [this.listItem(hit)] : [], nextCursor: null } };
    }
    const limit = a.limit ?? LIST_DEFAULT;
    const rows = await store.list(limit + 1, a.cursor);
    const items = rows.slice(0, limit).map((u) => this.listItem(u));
    return { ok: true, result: { items, nextCursor: rows.length > limit ? rows[limit - 1].id : null } };
  }

  private listItem(u: UserRecord): UserListItem {
    const p = this.d.records.vault.profile(u);
    const v: UserListItem = userView(u, p ?? emptyProfile(), { userId: u.id, role: u.role });
    if (!p) v.erased = true;
    return v;
  }

  /** Admin: a new role; the account's tokens stop working (their role claim is stale). */
  async setRole(a: OpArgs<'user.setRole'>): Promise<Answer<UserView>> {
    let changed = false;
    const r = await this.d.records.mutateRow(a.userId, (u) => {
      changed = u.role !== a.role;
      if (u.role === 'guest') return { error: { code: 'CONFLICT', message: 'a guest has no account to give a role' } };
      if (u.erasedAt !== null) return { error: { code: 'CONFLICT', message: 'this account has been erased' } };
      return u.role === a.role ? {} : { role: a.role, tokenGen: u.tokenGen + 1 };
    });
    if (!r.ok) return r;
    if (changed) this.revoke(a.userId);
    return { ok: true, result: this.listItem(r.result) };
  }
}
