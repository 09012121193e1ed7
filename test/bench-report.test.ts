// The run's outputs: thresholds and the exit code they set (also through the real CLI against a
// real server), and the HTML report: charts inline as SVG, no URL of anything outside the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { newHistogram, summarize, encodeHistogram, percentileCurve } from '../bench/lib/histogram.js';
import { checkThresholds, exitCodeFor, EXIT_THRESHOLD } from '../bench/lib/thresholds.js';
import { writeRun } from '../bench/lib/results.js';
import { inlineSvg } from '../bench/lib/html-report.js';
import type { RunResult, StepReport, StepRole } from '../bench/lib/scenario.js';

const CLI = fileURLToPath(new URL('../bench/cli.js', import.meta.url));

/**
 * Runs the bench CLI; stopped (and the promise rejected) if it has not exited within `deadlineMs`:
 * SIGTERM first, on which the harness kills the server it started (after a SIGKILL that server
 * would be left running), SIGKILL if it is still there 5 s later.
 */
function cli(args: string[], deadlineMs: number): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const deadline = setTimeout(() => {
      p.kill('SIGTERM');
      setTimeout(() => p.exitCode === null && p.signalCode === null && p.kill('SIGKILL'), 5000).unref();
      reject(new Error(`bench ${args.join(' ')}: still running after ${deadlineMs} ms\n${out}${err}`));
    }, deadlineMs);
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('exit', (code) => {
      clearTimeout(deadline);
      resolve({ code, out, err });
    });
  });
}

function fakeStep(name: string, role: StepRole, opsPerSec: number, p99Us: number, open = false): StepReport {
  const h = newHistogram();
  for (let i = 0; i < 990; i++) h.recordValue(200 + (i % 50));
  for (let i = 0; i < 10; i++) h.recordValue(p99Us + 1);
  const u = newHistogram();
  for (let i = 0; i < 1000; i++) u.recordValue(150 + (i % 40));
  const s = summarize(h);
  return {
    name,
    role,
    target: 'cartwire',
    workload: 'ping',
    client: 'raw',
    model: open ? { kind: 'open', connections: 8, rate: 1000 } : { kind: 'closed', connections: 8, inflight: 4 },
    phases: { warmupS: 1, rampS: 1, steadyS: 3 },
    windowS: 3,
    opsPerSec,
    completed: 1000,
    errors: {},
    lost: 0,
    notSent: 0,
    latencyOf: 'send -> answer',
    latencyUs: { ...s, p99: p99Us },
    histogram: encodeHistogram(h),
    percentiles: percentileCurve(h),
    uncorrectedUs: open ? summarize(u) : undefined,
    uncorrectedPercentiles: open ? percentileCurve(u) : undefined,
    timeline: [0, 1, 2, 3, 4].map((t) => ({
      t,
      phase: t < 1 ? 'warmup' : t < 2 ? 'ramp' : 'steady',
      ops: opsPerSec * (t < 2 ? 0.5 : 1),
      errors: 0,
      p50: 210,
      p99: p99Us,
      max: p99Us * 2,
      cpuPct: 50,
    })),
    serverCpuUsPerReq: 2,
    serverCpuPct: 50,
    clientCpuUsPerReq: 2,
    clientCpuPct: 40,
  };
}

test('thresholds apply to the measured steps only, and name what was missed', () => {
  const steps = [fakeStep('cart-mix 64x16', 'measured', 40_000, 7_000), fakeStep('ping 64x16', 'ceiling', 10, 90_000)];
  assert.deepEqual(checkThresholds(steps, {}), []);
  assert.deepEqual(checkThresholds(steps, { maxP99Ms: 10, minOps: 30_000 }), []);
  const misses = checkThresholds(steps, { maxP99Ms: 5, minOps: 50_000 });
  assert.deepEqual(
    misses.map((m) => [m.step, m.what]),
    [
      ['cart-mix 64x16', 'p99'],
      ['cart-mix 64x16', 'ops/s'],
    ],
  );
  assert.match(misses[0].message, /p99 7\.00 ms > --max-p99-ms 5/);
  assert.match(misses[1].message, /40,000 ops\/s < --min-ops 50,000/);
  assert.equal(exitCodeFor(misses), EXIT_THRESHOLD);
  assert.equal(exitCodeFor([]), 0);
});

test('the CLI exits 2 and says which threshold a real run missed; 0 when met', { timeout: 130_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const run = (extra: string[]) =>
    cli(
      [
        'ping',
        '--duration',
        '0.5',
        '--warmup',
        '0',
        '--ramp',
        '0',
        '--connections',
        '2',
        '--inflight',
        '2',
        '--shards',
        '1',
        '--no-report',
        '--no-progress',
        '--results-dir',
        dir,
        ...extra,
      ],
      // A run (a server start and half a second of load) took over 25 s on a loaded two-core machine.
      60_000,
    );
  const [missed, met] = await Promise.all([run(['--min-ops', '1e12', '--max-p99-ms', '60000']), run(['--min-ops', '1', '--max-p99-ms', '60000'])]);
  assert.equal(missed.code, EXIT_THRESHOLD, missed.out + missed.err);
  assert.match(missed.err, /threshold missed: ping 2x2: [\d,]+ ops\/s < --min-ops 1,000,000,000,000/);
  assert.doesNotMatch(missed.err, /--max-p99-ms/);
  assert.equal(met.code, 0, met.out + met.err);
  assert.doesNotMatch(met.err, /threshold missed/);
  // Both wrote their result.
  assert.equal(readdirSync(dir).filter((d) => d.startsWith('ping-')).length >= 1, true);
});

test('the HTML report holds its charts as inline SVG and names no URL', { timeout: 20_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-report-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const r: RunResult = {
    scenario: 'cart-mix',
    runId: 'cart-mix-test',
    at: new Date().toISOString(),
    machine: { cpus: 2, cpuModel: 'test cpu', memoryMiB: 1024, node: process.version },
    command: 'npm run bench -- cart-mix --peers ping',
    options: { connections: 8 },
    steps: [fakeStep('cart-mix @1,000/s', 'measured', 1000, 900, true), fakeStep('ping @1,000/s', 'ceiling', 1000, 300, true)],
    ratios: [{ name: 'ping p99 / cart-mix p99', value: 0.33 }],
    facts: [['a <figure>', '1 & 2']],
    notes: ['a note'],
  };
  const w = await writeRun(r, { resultsDir: dir, report: true });
  const html = readFileSync(w.html!, 'utf8');
  // Four charts (throughput, latency over time, percentiles, steps), each an <svg> element with marks.
  assert.equal(html.match(/<svg[\s>]/g)?.length, 4);
  assert.ok((html.match(/<path/g)?.length ?? 0) > 10);
  assert.match(html, /CO-corrected/);
  assert.match(html, /a &lt;figure&gt;/); // text is escaped
  // Nothing outside the file: no URL, no script, no stylesheet or image link.
  assert.doesNotMatch(html, /https?:\/\//i);
  assert.doesNotMatch(html, /<script|<link|<img|@import|url\(/i);
  assert.doesNotMatch(html, /\s(src|href)=/i);
  // A PNG per chart next to it, and the JSON.
  assert.deepEqual(w.pngs.map((p) => p.split('/').pop()).sort(), ['latency-over-time.png', 'percentiles.png', 'steps.png', 'throughput.png']);
  for (const p of w.pngs) assert.deepEqual([...readFileSync(p).subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
  assert.equal((JSON.parse(readFileSync(w.json, 'utf8')) as { steps: unknown[] }).steps.length, 2);
});

test('`bench report <run dir>` writes report.html and the PNGs again from result.json alone', { timeout: 30_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-report-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const r: RunResult = {
    scenario: 'push-fanout',
    runId: 'push-fanout-fixture',
    at: new Date().toISOString(),
    machine: { cpus: 2, cpuModel: 'test cpu', memoryMiB: 1024, node: process.version },
    command: 'npm run bench -- push-fanout --no-report',
    options: { subscribers: 8 },
    steps: [fakeStep('push-fanout 8 subscribers', 'measured', 160, 900)],
    ratios: [],
    facts: [['deliveries', '480']],
    notes: [],
  };
  // A run written with --no-report: its directory holds result.json and nothing else.
  const w = await writeRun(r, { resultsDir: dir, report: false });
  assert.deepEqual(readdirSync(w.dir), ['result.json']);

  const res = await cli(['report', w.dir], 25_000);
  assert.equal(res.code, 0, res.out + res.err);
  const html = join(w.dir, 'report.html');
  assert.ok(res.out.includes(`report: ${html}\n`), res.out); // the path written
  assert.match(res.out, /push-fanout 8 subscribers/); // the summary
  const page = readFileSync(html, 'utf8');
  assert.match(page, /<title>cartwire bench push-fanout push-fanout-fixture<\/title>/);
  assert.match(page, /<h1>cartwire bench: push-fanout<\/h1>/);
  assert.equal(page.match(/<svg[\s>]/g)?.length, 3); // one step: throughput, latency over time, percentiles
  assert.deepEqual(readdirSync(w.dir).sort(), ['latency-over-time.png', 'percentiles.png', 'report.html', 'result.json', 'throughput.png']);

  // The result.json itself is accepted too, and --no-png leaves the charts alone.
  rmSync(html);
  rmSync(join(w.dir, 'throughput.png'));
  const again = await cli(['report', w.json, '--no-png'], 25_000);
  assert.equal(again.code, 0, again.out + again.err);
  assert.match(readFileSync(html, 'utf8'), /<h1>cartwire bench: push-fanout<\/h1>/);
  assert.equal(readdirSync(w.dir).includes('throughput.png'), false);
  assert.doesNotMatch(again.out, /chart:/);

  // Nothing to report from: exit 1 and say why.
  const empty = mkdtempSync(join(dir, 'empty-'));
  const none = await cli(['report', empty], 25_000);
  assert.equal(none.code, 1, none.out + none.err);
  assert.match(none.err, /no result\.json in this directory/);
});

test('no report.html is committed under bench/results (they are generated)', (t) => {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const ls = spawnSync('git', ['ls-files', '--', 'bench/results'], { cwd: root, encoding: 'utf8' });
  if (ls.error || ls.status !== 0) return t.skip('not a git checkout');
  assert.deepEqual(
    ls.stdout.split('\n').filter((f) => f.endsWith('/report.html')),
    [],
  );
});

test('inline SVG drops the XML namespaces (HTML puts <svg> in its namespace)', () => {
  const svg = '<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="1"><use xlink:href="#a"/></svg>';
  assert.equal(inlineSvg(svg), '<svg width="1"><use href="#a"/></svg>');
});
