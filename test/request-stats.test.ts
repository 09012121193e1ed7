// The typed-array request metrics must expose exactly what a prom-client histogram and counter
// would: cumulative `le` buckets (a value equal to a bound falls in that bucket), _sum, _count.
import test from 'node:test';
import assert from 'node:assert/strict';
import client from 'prom-client';
import { RequestStats } from '../src/app/metrics/request-stats.js';

test('buckets, sums and counts match a prom-client histogram fed the same values', async () => {
  const bounds = [0.001, 0.01, 0.1];
  const values = [0.0005, 0.001, 0.002, 0.01, 0.05, 0.1, 0.5, 2];
  const ours = new RequestStats(['a', 'b'], ['ok', 'BAD'], bounds);
  const reg = new client.Registry();
  reg.registerMetric(ours.histogram('h', 'help') as never);
  const theirsReg = new client.Registry();
  const theirs = new client.Histogram({ name: 'h', help: 'help', labelNames: ['op'], buckets: bounds, registers: [theirsReg] });
  for (const v of values) {
    ours.record(1, v, 0);
    theirs.labels('b').observe(v);
  }
  assert.equal(await reg.metrics(), await theirsReg.metrics());
});

test('counts by op and outcome; series without requests are left out', async () => {
  const ours = new RequestStats(['a', 'b'], ['ok', 'BAD'], [1]);
  ours.record(0, 0.1, 1);
  ours.record(0, 0.1, 1);
  ours.count(1, 0);
  const reg = new client.Registry();
  reg.registerMetric(ours.counter('c_total', 'help') as never);
  assert.equal(await reg.metrics(), '# HELP c_total help\n# TYPE c_total counter\nc_total{op="a",outcome="BAD"} 2\nc_total{op="b",outcome="ok"} 1\n');
});
