// Scans of the bytes a server left on disk: which files under a directory hold a value.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Every file under `dir`, with its bytes. */
export function files(dir: string): { path: string; bytes: Buffer }[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? files(p) : e.isFile() ? [{ path: p, bytes: readFileSync(p) }] : [];
  });
}

/** The files under `dir` that hold `needle` (as UTF-8 bytes, also as UTF-16LE, and case-insensitively for ASCII). */
export function holders(dir: string, needle: string): string[] {
  const forms = [Buffer.from(needle), Buffer.from(needle.toLowerCase()), Buffer.from(needle.toUpperCase()), Buffer.from(needle, 'utf16le')];
  return files(dir)
    .filter((f) => forms.some((n) => f.bytes.includes(n)))
    .map((f) => f.path);
}
