// The layering rules of src/, checked against the real import graph of the sources: each folder
// is one thread's kind of work, and what may import what keeps it so.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

interface Edge {
  from: string;
  /** A file under src/ (relative, `.ts`), or a package / node: builtin. */
  to: string;
  local: boolean;
  typeOnly: boolean;
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

const IMPORT = /^\s*(import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?'([^']+)'|import\(\s*'([^']+)'\s*\)/gm;

function edgesOf(file: string): Edge[] {
  const text = readFileSync(file, 'utf8');
  const from = relative(SRC, file);
  const out: Edge[] = [];
  for (const m of text.matchAll(IMPORT)) {
    const spec = m[3] ?? m[4];
    const typeOnly = m[2] !== undefined;
    if (spec.startsWith('.')) out.push({ from, to: relative(SRC, resolve(dirname(file), spec)).replace(/\.js$/, '.ts'), local: true, typeOnly });
    else out.push({ from, to: spec, local: false, typeOnly });
  }
  return out;
}

const files = sources(SRC);
const edges = files.flatMap(edgesOf);
/** The folder of a source file (`actors`, `app`, ...); a file at the top of src/ (main.ts, config.ts) is its own. */
const folder = (f: string): string => (f.includes('/') ? f.split('/')[0] : f);

function check(rule: string, bad: Edge[]): void {
  assert.deepEqual(
    bad.map((e) => `${e.from} -> ${e.to}`),
    [],
    rule,
  );
}

test('the graph was read (sanity: every folder has files and imports)', () => {
  for (const f of ['protocol', 'actors', 'persistence', 'transport', 'app', 'workers', 'client']) {
    assert.ok(
      edges.some((e) => folder(e.from) === f),
      `no imports found in src/${f}`,
    );
  }
  for (const e of edges.filter((x) => x.local)) assert.ok(existsSync(join(SRC, e.to)), `${e.from} imports ${e.to}, which does not exist`);
});

test('protocol imports nothing of the server (only typebox, msgpackr, and node:crypto for ids)', () => {
  check(
    'protocol must stay dependency-free: the SDK and docs build on it',
    edges.filter(
      (e) =>
        folder(e.from) === 'protocol' &&
        (e.local
          ? folder(e.to) !== 'protocol'
          : !['typebox', 'typebox/compile', 'msgpackr'].includes(e.to) && !(e.from === 'protocol/ids.ts' && e.to === 'node:crypto')),
    ),
  );
});

test('only protocol/typebox.ts imports the typebox package (the build bundles that one file)', () => {
  check(
    'import TypeBox from protocol/typebox.js: a direct import loads its ~700 modules one by one again',
    edges.filter((e) => !e.local && /^typebox(\/|$)/.test(e.to) && e.from !== 'protocol/typebox.ts'),
  );
});

test('actors import only protocol and each other, and do no I/O', () => {
  check(
    'actors are pure domain',
    edges.filter((e) => folder(e.from) === 'actors' && (!e.local || !['actors', 'protocol'].includes(folder(e.to)))),
  );
  for (const f of files.filter((p) => folder(relative(SRC, p)) === 'actors')) {
    const text = readFileSync(f, 'utf8')
      .replace(/\/\/.*$/gm, '')
      .replace(/\/\*[\s\S]*?\*\//g, '');
    assert.doesNotMatch(
      text,
      /Date\.now\(|Math\.random\(|performance\.now\(|randomBytes|setTimeout\(|setInterval\(/,
      `${relative(SRC, f)}: actors take time and ids as arguments`,
    );
  }
});

test('the client SDK (packages/client) imports only itself and msgpackr (ws is loaded optionally at run time)', () => {
  const PKG = fileURLToPath(new URL('../../packages/client/src/', import.meta.url));
  const sdk = sources(PKG).flatMap(edgesOf);
  assert.ok(sdk.length > 0, 'the SDK was read');
  check(
    'the SDK must not pull the server in',
    sdk.filter((e) => (e.local ? !resolve(SRC, e.to).startsWith(PKG) : !['msgpackr', 'ws'].includes(e.to))),
  );
  check(
    'src/client is the SDK for the tests and bench, nothing else',
    edges.filter((e) => folder(e.from) === 'client' && !(e.local && resolve(SRC, e.to).startsWith(PKG))),
  );
});

test('log imports only pino and Node built-ins', () => {
  check(
    'log',
    edges.filter((e) => folder(e.from) === 'log' && (e.local ? folder(e.to) !== 'log' : !['pino', 'pino-pretty'].includes(e.to) && !e.to.startsWith('node:'))),
  );
});

test('transport is the edge only: it imports protocol and itself, never persistence, workers, actors or app', () => {
  check(
    'transport',
    edges.filter((e) => folder(e.from) === 'transport' && e.local && !['transport', 'protocol', 'log'].includes(folder(e.to))),
  );
  check(
    'transport and SQLite',
    edges.filter((e) => folder(e.from) === 'transport' && e.to === 'better-sqlite3'),
  );
});

test('persistence knows rows and bytes: it imports only protocol and itself', () => {
  check(
    'persistence',
    edges.filter((e) => folder(e.from) === 'persistence' && e.local && !['persistence', 'protocol', 'log'].includes(folder(e.to))),
  );
});

test('workers run inside worker threads: they never import app or transport', () => {
  check(
    'workers',
    edges.filter((e) => folder(e.from) === 'workers' && e.local && ['app', 'transport', 'main.ts'].includes(folder(e.to))),
  );
});

test("the main thread never loads a shard's runtime: app reaches workers only through the thread contracts", () => {
  check(
    'app -> workers/shard/',
    edges.filter((e) => folder(e.from) === 'app' && e.local && e.to.startsWith('workers/shard/')),
  );
});

test('no import cycles between folders', () => {
  const deps = new Map<string, Set<string>>();
  for (const e of edges.filter((x) => x.local && folder(x.from) !== folder(x.to))) {
    if (!deps.has(folder(e.from))) deps.set(folder(e.from), new Set());
    deps.get(folder(e.from))!.add(folder(e.to));
  }
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (f: string, path: string[]): void => {
    if (state.get(f) === 'done') return;
    assert.notEqual(state.get(f), 'visiting', `folder cycle: ${[...path, f].join(' -> ')}`);
    state.set(f, 'visiting');
    for (const d of deps.get(f) ?? []) visit(d, [...path, f]);
    state.set(f, 'done');
  };
  for (const f of deps.keys()) visit(f, []);
});

/** Lines of `file` with an `await` outside any function: the module is async for V8. */
function topLevelAwaits(file: string): number[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const lines: number[] = [];
  const visit = (n: ts.Node): void => {
    if (ts.isFunctionLike(n) || ts.isClassStaticBlockDeclaration(n)) return;
    if (ts.isAwaitExpression(n) || (ts.isForOfStatement(n) && n.awaitModifier)) lines.push(source.getLineAndCharacterOfPosition(n.getStart()).line + 1);
    ts.forEachChild(n, visit);
  };
  visit(source);
  return lines;
}

// A worker thread torn down while an async module graph settles aborts the whole process on
// Node 22 and 24 (V8's SourceTextModule::AsyncModuleExecutionFulfilled); one top-level await in a module
// every thread loads (the logger) made every graph async. Only the command-line tools, which run
// on their own main thread and never in a worker, may await at their top level.
test('no module under src/ awaits at its top level (but the command-line tools)', () => {
  const TOOLS = ['rotate-master-key.ts'];
  const found = files.flatMap((f) => (TOOLS.includes(relative(SRC, f)) ? [] : topLevelAwaits(f).map((line) => `${relative(SRC, f)}:${line}`)));
  assert.deepEqual(found, []);
  assert.ok(topLevelAwaits(join(SRC, 'rotate-master-key.ts')).length > 0, 'the check finds a top-level await where there is one');
});
