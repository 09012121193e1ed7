// The frames of a commit whose fsync failed sit in the WAL past its last commit. Built here from
// real SQLite files: the database and its wal-index as they were after commit A, with the WAL as
// it was after commit B, is what the disk holds when B's fsync failed. Opened as it is (a crash),
// SQLite recovers B; voided first, only A. commitOrVoid, which both committing connections of a
// shard go through, does that voiding when its commit throws.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, copyFileSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { commitOrVoid, voidUncommittedFrames } from '../src/persistence/wal-orphans.js';

function dir(t: { after: (fn: () => void) => void }): string {
  const d = mkdtempSync(join(tmpdir(), 'cartwire-wal-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

/** The rows a fresh connection finds in a copy of `files` (no -shm: SQLite recovers the WAL as after a crash). */
function recovered(t: { after: (fn: () => void) => void }, files: { db: string; wal: string }): string[] {
  const d = dir(t);
  copyFileSync(files.db, join(d, 'x.db'));
  copyFileSync(files.wal, join(d, 'x.db-wal'));
  const db = new Database(join(d, 'x.db'));
  try {
    return (db.prepare('SELECT v FROM t ORDER BY v').all() as { v: string }[]).map((r) => r.v);
  } finally {
    db.close();
  }
}

/** `s.db` in `d`, open in WAL mode with no checkpoints, holding one committed row: A. */
function committedA(t: { after: (fn: () => void) => void }, d: string): Database.Database {
  const db = new Database(join(d, 's.db'));
  t.after(() => db.close());
  db.pragma('journal_mode = WAL');
  db.pragma('wal_autocheckpoint = 0');
  db.exec('CREATE TABLE t (v TEXT)');
  db.prepare('INSERT INTO t VALUES (?)').run('A');
  return db;
}

/** A database whose WAL holds commit B past the end its wal-index gives (B's fsync failed). */
function failedCommitFiles(t: { after: (fn: () => void) => void }, rowsInB: number): { db: string; wal: string } {
  const live = dir(t);
  const db = committedA(t, live);
  const state = dir(t);
  copyFileSync(join(live, 's.db'), join(state, 's.db'));
  copyFileSync(join(live, 's.db-shm'), join(state, 's.db-shm'));
  const insert = db.prepare('INSERT INTO t VALUES (?)');
  db.transaction(() => {
    for (let i = 0; i < rowsInB; i++) insert.run(`B${i}`.padEnd(600, '.'));
  })();
  copyFileSync(join(live, 's.db-wal'), join(state, 's.db-wal'));
  return { db: join(state, 's.db'), wal: join(state, 's.db-wal') };
}

for (const rows of [1, 40]) {
  test(`a refused commit's frames (${rows} row${rows > 1 ? 's, several pages' : ''}) come back after a crash unless voided`, (t) => {
    const files = failedCommitFiles(t, rows);
    assert.equal(recovered(t, files).length, 1 + rows, 'without voiding, the recovery finds B valid');
    assert.equal(voidUncommittedFrames(files.db), true);
    assert.deepEqual(recovered(t, files), ['A'], 'voided: only A, which was committed');
  });
}

test('with nothing past the last commit there is nothing to void, and a WAL that ends at a commit is left as it is', (t) => {
  const d = dir(t);
  const db = committedA(t, d);
  assert.equal(voidUncommittedFrames(join(d, 's.db')), false);
  db.prepare('INSERT INTO t VALUES (?)').run('B');
  assert.deepEqual(recovered(t, { db: join(d, 's.db'), wal: join(d, 's.db-wal') }), ['A', 'B']);
  assert.equal(voidUncommittedFrames(join(d, 'missing.db')), false, 'no wal-index: nothing to do');
});

test('commitOrVoid: a commit that throws with its frames in the WAL leaves them void; one that succeeds is kept', (t) => {
  const d = dir(t);
  const db = committedA(t, d);
  const shm = join(d, 's.db-shm');
  const indexAfterA = readFileSync(shm).subarray(0, 96);
  assert.throws(
    () =>
      commitOrVoid(db, () => {
        db.prepare('INSERT INTO t VALUES (?)').run('B');
        // What a failed fsync leaves: B's frames are in the WAL, the wal-index still ends at A.
        const fd = openSync(shm, 'r+');
        writeSync(fd, indexAfterA, 0, indexAfterA.length, 0);
        closeSync(fd);
        throw new Error('fsync failed');
      }),
    /fsync failed/,
  );
  assert.deepEqual(recovered(t, { db: join(d, 's.db'), wal: join(d, 's.db-wal') }), ['A']);
  assert.equal(
    commitOrVoid(db, () => db.prepare('INSERT INTO t VALUES (?)').run('C').changes),
    1,
  );
  assert.deepEqual(recovered(t, { db: join(d, 's.db'), wal: join(d, 's.db-wal') }), ['A', 'C']);
});
