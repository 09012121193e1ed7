// Accounts in cluster mode: a JetStream KV bucket shared by every node, so a user registered
// through one node signs in through any other. The email is the key (hashed: KV keys are a small
// alphabet) and `create` only succeeds for a key that does not exist, which keeps emails unique
// across nodes racing to register the same one.
import { createHash } from 'node:crypto';
import type { KV } from '@nats-io/kv';
import { normalizeEmail, type UserRecord, type UserStore } from './user-store.js';

const emailKey = (email: string): string => `e${createHash('sha256').update(normalizeEmail(email)).digest('hex')}`;
const userKey = (id: string): string => `u${Buffer.from(id).toString('hex')}`;

export class KvUserStore implements UserStore {
  constructor(private readonly kv: KV) {}

  async findByEmail(email: string): Promise<UserRecord | undefined> {
    const e = await this.kv.get(emailKey(email));
    return e && e.operation === 'PUT' ? (e.json<UserRecord>() satisfies UserRecord) : undefined;
  }

  async tryInsert(user: UserRecord): Promise<boolean> {
    const record: UserRecord = { ...user, email: normalizeEmail(user.email) };
    try {
      await this.kv.create(emailKey(record.email), JSON.stringify(record));
    } catch (err) {
      if (/wrong last sequence|key exists/i.test(String((err as Error).message))) return false;
      throw err;
    }
    await this.kv.put(userKey(user.id), String(user.createdAt));
    return true;
  }

  async createdAt(id: string): Promise<number | undefined> {
    const e = await this.kv.get(userKey(id));
    return e && e.operation === 'PUT' ? Number(e.string()) : undefined;
  }

  close(): void {
    // The connection belongs to the node.
  }
}
