// Each account's wrapped data key in cluster mode: one entry `k<hex user id>` of its own bucket,
// written once when the account is made and otherwise only by a master key rotation (compare-
// and-set). The account entry only refers to it, so the many writes of a profile never copy the
// key into another revision. A replaced or dropped revision stays in the stream's files until
// the server compacts them, so nothing here lets the server drop one: the bucket keeps a few
// revisions per key, and every revision that is no longer wanted is erased with the stream's
// secure erase (the message overwritten in the files) by the code that made it obsolete.
import type { KV, KvWatchEntry } from '@nats-io/kv';
import { sealedKeyId, type MasterKeyring } from './sealing.js';
import { wrongLastSequence } from './nats-errors.js';

/** Revisions the data key bucket keeps per key: more than a rotation and an erasure ever leave. */
export const DATA_KEY_HISTORY = 8;
const REWRAP_RETRIES = 20;

/** A bucket and the secure erase of one of its revisions (a message of its stream, overwritten). */
export interface ErasableKv {
  kv: KV;
  erase: (revision: number) => Promise<unknown>;
}

export const dataKeyName = (id: string): string => `k${Buffer.from(id).toString('hex')}`;
/** The user id of a data key entry, or undefined for any other key. */
export const dataKeyOwner = (key: string): string | undefined => (key.startsWith('k') ? Buffer.from(key.slice(1), 'hex').toString() : undefined);
/** A compare-and-set that lost, or a create of a key that exists. */
export const taken = wrongLastSequence;
const gone = (err: unknown): boolean => /no message found/i.test(String((err as Error).message));

/** Every key of a bucket. */
export async function allKeys(kv: KV): Promise<string[]> {
  const keys: string[] = [];
  for await (const k of await kv.keys()) keys.push(k);
  return keys;
}

/**
 * Follows every entry of a bucket: first each key's last value, then every change. `ready`
 * resolves once the values there at the start have been seen.
 */
export async function watchBucket(kv: KV, each: (e: KvWatchEntry) => void): Promise<{ ready: Promise<void>; stop: () => void }> {
  let initialized!: () => void;
  const ready = new Promise<void>((resolve) => (initialized = resolve));
  // Every key: the bucket's keys are single tokens, which no subject wildcard selects by prefix.
  const w = await kv.watch({ key: '>' });
  // An empty bucket sends nothing to mark the end of its (empty) first values.
  if ((await kv.status()).values === 0) initialized();
  void (async () => {
    for await (const e of w) {
      each(e);
      if (e.isUpdate) initialized();
    }
  })();
  return { ready, stop: () => w.stop() };
}

export type KeyChange = (userId: string, wrappedKey: string | undefined) => void;
export type CreateOutcome = 'created' | 'same' | 'taken';

export class KvDataKeys {
  constructor(private readonly b: ErasableKv) {}

  /** The wrapped data key of an account, or undefined (none made, or erased). */
  async get(id: string): Promise<string | undefined> {
    const e = await this.b.kv.get(dataKeyName(id));
    return e?.operation === 'PUT' ? e.string() : undefined;
  }

  /** Stores a new account's key: `same` when this very key is there already (a retried write). */
  async create(id: string, wrapped: string): Promise<CreateOutcome> {
    try {
      await this.b.kv.create(dataKeyName(id), wrapped);
      return 'created';
    } catch (err) {
      if (!taken(err)) throw err;
      return (await this.get(id)) === wrapped ? 'same' : 'taken';
    }
  }

  /**
   * Crypto-shredding: a delete marker (which every node's watch sees), then every revision that
   * held the key is erased in the stream's files. Safe to repeat, and against a rotation running.
   */
  async shred(id: string): Promise<void> {
    const key = dataKeyName(id);
    await this.b.kv.delete(key);
    await this.eraseRevisions(key, () => true);
  }

  /** Follows the data keys of every account (`undefined`: the key is gone). */
  watch(each: KeyChange): Promise<{ ready: Promise<void>; stop: () => void }> {
    return watchBucket(this.b.kv, (e) => {
      const id = dataKeyOwner(e.key);
      if (id !== undefined) each(id, e.operation === 'PUT' ? e.string() : undefined);
    });
  }

  /**
   * Rewraps every data key under `ring.current` by compare-and-set, then erases the revision it
   * replaced. Keys under the current key already are left as they are, so a rerun finishes an
   * interrupted rotation, but their history is read for what such a run left unerased.
   */
  async rewrap(ring: MasterKeyring): Promise<{ rewrapped: number; keys: number }> {
    let rewrapped = 0;
    let keys = 0;
    for (const key of await allKeys(this.b.kv)) {
      const id = dataKeyOwner(key);
      if (id === undefined) continue;
      for (let attempt = 0; ; attempt++) {
        const e = await this.b.kv.get(key);
        if (!e || e.operation !== 'PUT') break;
        if (attempt === 0) keys++;
        if (sealedKeyId(e.string()) === ring.current.id) {
          // Rewrapped by an interrupted run, which may have stopped before erasing what it replaced
          // (or made under the new key: then its history is one revision).
          await this.eraseRevisions(key, (rev) => rev < e.revision);
          break;
        }
        try {
          await this.b.kv.update(key, ring.rewrap(e.string(), id), e.revision);
          rewrapped++;
          await eraseRevision(this.b, e.revision);
          break;
        } catch (err) {
          if (!taken(err) || attempt >= REWRAP_RETRIES) throw err;
        }
      }
    }
    return { rewrapped, keys };
  }

  /** Erases the stored values (not delete markers) of `key` whose revision `which` selects. */
  private async eraseRevisions(key: string, which: (revision: number) => boolean): Promise<void> {
    const revisions: number[] = [];
    for await (const e of await this.b.kv.history({ key })) if (e.operation === 'PUT' && which(e.revision)) revisions.push(e.revision);
    for (const rev of revisions) await eraseRevision(this.b, rev);
  }
}

/** Erases one revision in the stream's files; one erased or dropped meanwhile is no error. */
export async function eraseRevision(b: ErasableKv, revision: number): Promise<void> {
  try {
    await b.erase(revision);
  } catch (err) {
    if (!gone(err)) throw err;
  }
}
