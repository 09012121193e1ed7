// MovieLens "latest-small" (2016: 100,004 ratings, 671 users, 9,066 movies) as shipped in Debian's
// r-cran-dslabs: fetched with apt-get into a git-ignored cache, read from the package's R
// lazy-load database. Users and movies get dense ids in ascending order of their MovieLens ids.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openLazyLoadDb, type RVector } from './rdata.js';

export interface MovieLens {
  users: number;
  items: number;
  /** One row per rating: dense user and item ids, epoch seconds. */
  user: Int32Array;
  item: Int32Array;
  timestamp: Float64Array;
  title: string[];
  /** Per item, its genres ("Adventure|Comedy" split). */
  genres: string[][];
}

/** data/ is git-ignored (checked with `git check-ignore data/recs-cache/x`). */
export const DEFAULT_CACHE = fileURLToPath(new URL('../../../data/recs-cache/', import.meta.url));
const DB_PATH = 'usr/lib/R/site-library/dslabs/data/Rdata';

/** Path base of dslabs' Rdata.rdx/.rdb, downloading and unpacking the .deb if needed. */
export function ensureDslabs(cacheDir = DEFAULT_CACHE, log: (s: string) => void = console.error): string {
  const base = join(cacheDir, 'pkg', DB_PATH);
  if (existsSync(`${base}.rdb`)) return base;
  mkdirSync(cacheDir, { recursive: true });
  const download = () => execFileSync('apt-get', ['download', 'r-cran-dslabs'], { cwd: cacheDir, stdio: 'pipe' });
  log(`fetching r-cran-dslabs into ${cacheDir} ...`);
  try {
    download();
  } catch {
    log('apt-get download failed; running apt-get update first');
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'pipe' });
    download();
  }
  const deb = readdirSync(cacheDir).find((f) => f.startsWith('r-cran-dslabs') && f.endsWith('.deb'));
  if (!deb) throw new Error(`no r-cran-dslabs .deb in ${cacheDir} after apt-get download`);
  execFileSync('dpkg-deb', ['-x', join(cacheDir, deb), join(cacheDir, 'pkg')]);
  return base;
}

const column = (df: RVector & { type: 'list' }, name: string) => {
  const names = (df.attributes.get('names') as { data: string[] }).data;
  const at = names.indexOf(name);
  if (at < 0) throw new Error(`movielens: no column ${name} (have ${names.join(', ')})`);
  return df.data[at] as RVector;
};

/** Reads the movielens data frame (movieId, title, year, genres factor, userId, rating, timestamp). */
export function loadMovieLens(cacheDir = DEFAULT_CACHE): MovieLens {
  const df = openLazyLoadDb(ensureDslabs(cacheDir)).get('movielens') as RVector & { type: 'list' };
  const movieId = column(df, 'movieId').data as Int32Array;
  const userId = column(df, 'userId').data as Int32Array;
  const ts = column(df, 'timestamp');
  const titles = column(df, 'title').data as (string | null)[];
  const genres = column(df, 'genres');
  const levels = (genres.attributes.get('levels') as { data: string[] }).data;
  const dense = (ids: Int32Array) => {
    const sorted = [...new Set(ids)].sort((a, b) => a - b);
    const map = new Map(sorted.map((id, i) => [id, i]));
    return { n: sorted.length, of: Int32Array.from(ids, (id) => map.get(id)!) };
  };
  const u = dense(userId);
  const m = dense(movieId);
  const title = new Array<string>(m.n).fill('');
  const itemGenres: string[][] = Array.from({ length: m.n }, () => []);
  for (let r = 0; r < movieId.length; r++) {
    const i = m.of[r];
    title[i] = titles[r] ?? '';
    const g = (genres.data as Int32Array)[r];
    if (itemGenres[i].length === 0 && g > 0) itemGenres[i] = levels[g - 1].split('|'); // factor codes are 1-based
  }
  return { users: u.n, items: m.n, user: u.of, item: m.of, timestamp: Float64Array.from(ts.data as ArrayLike<number>), title, genres: itemGenres };
}
