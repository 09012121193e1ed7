// Runtime metrics (prom-client, Prometheus naming: prefix cartwire_, base units, _total
// counters). Per-request counts and latencies go to typed arrays (request-stats.ts); label
// children of the other metrics are created once and kept.
import client from 'prom-client';
import { BusinessMetrics } from './business-metrics.js';
import { OpNames } from '../../protocol/ops.js';
import { OUTCOMES } from '../../protocol/errors.js';
import type { ShardStats } from '../../workers/shard-messages.js';
import { RequestStats } from './request-stats.js';
import type { EdgeMetrics } from '../../transport/dispatch.js';
import type { UpgradeRefusal } from '../../transport/ws-endpoint.js';


/** Row of requests refused before their op was known (unknown op, bad id, forbidden key). */
const UNKNOWN_OP = OpNames.length;
const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

export class Metrics implements EdgeMetrics {
  readonly registry = new client.Registry();
  private readonly connections: client.Gauge;
  readonly business: BusinessMetrics;
  private readonly requests = new RequestStats([...OpNames, 'unknown'], OUTCOMES, LATENCY_BUCKETS);
  private readonly commitSeconds: client.Histogram;
  private readonly batchRows: client.Histogram;
  private readonly actors: client.Gauge;
  private readonly badFrames: client.Counter;
  private readonly pushCount: client.Counter;
  private readonly checkpointSeconds: client.Histogram;
  private readonly snapshotsWritten: client.Counter;
  private readonly actorChildren: client.Gauge.Internal<string>[] = [];
  private readonly refused: Record<UpgradeRefusal, client.Counter.Internal>;

  constructor(shards: number, mailboxDepth: (shard: number) => number) {
    const r = this.registry;
    client.collectDefaultMetrics({ register: r });
    this.business = new BusinessMetrics(r);
    this.connections = new client.Gauge({ name: 'cartwire_connections', help: 'Open WebSocket connections.', registers: [r] });
    r.registerMetric(this.requests.counter('cartwire_requests_total', 'Requests answered, by op and outcome (ok or error code).') as never);
    r.registerMetric(
      this.requests.histogram('cartwire_request_duration_seconds', 'Time from frame decode to reply, by op (includes the group commit for shard ops).') as never,
    );
    this.commitSeconds = new client.Histogram({
      name: 'cartwire_journal_commit_duration_seconds', help: 'Duration of one group commit (one SQLite transaction with fsync).',
      registers: [r], buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1],
    });
    this.batchRows = new client.Histogram({
      name: 'cartwire_journal_batch_rows', help: 'Journal rows written per group commit.',
      registers: [r], buckets: [1, 4, 16, 64, 256, 1024, 4096],
    });
    this.actors = new client.Gauge({ name: 'cartwire_shard_actors', help: 'Actors in memory, per shard.', labelNames: ['shard'], registers: [r] });
    this.badFrames = new client.Counter({ name: 'cartwire_bad_frames_total', help: 'Frames answered BAD_FRAME.', registers: [r] });
    this.checkpointSeconds = new client.Histogram({
      name: 'cartwire_checkpoint_duration_seconds', help: 'Duration of one checkpoint (snapshots of every dirty actor, then journal truncation), batches running between its steps.',
      registers: [r], buckets: [0.001, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30],
    });
    this.snapshotsWritten = new client.Counter({ name: 'cartwire_checkpoint_snapshots_total', help: 'Actor snapshots written by checkpoints.', registers: [r] });
    this.pushCount = new client.Counter({ name: 'cartwire_pushes_published_total', help: 'Push frames published to topics (each reaches every subscriber).', registers: [r] });
    new client.Gauge({
      name: 'cartwire_shard_mailbox_depth', help: 'Requests queued or in flight per shard.', labelNames: ['shard'], registers: [r],
      collect() {
        for (let s = 0; s < shards; s++) this.labels(String(s)).set(mailboxDepth(s));
      },
    });
    for (let s = 0; s < shards; s++) this.actorChildren.push(this.actors.labels(String(s)));
    const refused = new client.Counter({
      name: 'cartwire_upgrades_refused_total', help: 'WebSocket upgrades refused, by reason (rate: per-IP rate 429, capacity: MAX_CONNECTIONS 503, origin: 403, starting and draining: 503).',
      labelNames: ['reason'], registers: [r],
    });
    this.refused = { rate: refused.labels('rate'), capacity: refused.labels('capacity'), origin: refused.labels('origin'),
      starting: refused.labels('starting'), draining: refused.labels('draining'),
    };
  }

  /** Recommendation model gauges, read at scrape time. */
  recs(stats: () => { modelAgeMs: number; lastBuildMs: number; builds: number; events: number; poolUtilization: number }): void {
    const r = this.registry;
    new client.Gauge({ name: 'cartwire_recs_model_age_seconds', help: 'Age of the live recommendation model.', registers: [r], collect() { this.set(stats().modelAgeMs / 1000); } });
    new client.Gauge({ name: 'cartwire_recs_job_duration_seconds', help: 'Duration of the last recommendation build (Piscina pool).', registers: [r], collect() { this.set(stats().lastBuildMs / 1000); } });
    new client.Gauge({ name: 'cartwire_recs_builds', help: 'Recommendation builds completed since start.', registers: [r], collect() { this.set(stats().builds); } });
    new client.Gauge({ name: 'cartwire_recs_interactions', help: 'Interactions the recommendation models learn from.', registers: [r], collect() { this.set(stats().events); } });
    new client.Gauge({ name: 'cartwire_recs_pool_utilization', help: 'Piscina build pool utilization (0..1).', registers: [r], collect() { this.set(stats().poolUtilization); } });
  }

  connectionOpened(): void {
    this.connections.inc();
  }

  connectionClosed(): void {
    this.connections.dec();
  }

  upgradeRefused(reason: UpgradeRefusal): void {
    this.refused[reason].inc();
  }

  /** One answered request; `op` is the index in OpNames. */
  done(op: number, seconds: number, outcome: number): void {
    if (op >= 0) this.requests.record(op, seconds, outcome); // op < 0: the server's own calls
  }

  /** A request answered with an error before it had a known op. */
  rejected(outcome: number): void {
    this.requests.count(UNKNOWN_OP, outcome);
  }

  checkpoint(durationMs: number, snapshots: number): void {
    this.checkpointSeconds.observe(durationMs / 1000);
    this.snapshotsWritten.inc(snapshots);
  }

  pushes(n: number): void {
    this.pushCount.inc(n);
  }

  badFrame(): void {
    this.badFrames.inc();
  }

  userConnection(userId: string, delta: 1 | -1): void {
    this.business.userConnection(userId, delta);
  }

  shardStats(shard: number, s: ShardStats): void {
    if (s.rows > 0) {
      this.commitSeconds.observe(s.commitMs / 1000);
      this.batchRows.observe(s.rows);
    }
    this.actorChildren[shard]?.set(s.actors);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
