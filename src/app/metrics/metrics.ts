// Runtime metrics (prom-client, Prometheus naming: prefix cartwire_, base units, _total
// counters). Per-request counts and latencies go to typed arrays (request-stats.ts); label
// children of the other metrics are created once and kept.
import client from 'prom-client';
import { BusinessMetrics } from './business-metrics.js';
import { OpNames } from '../../protocol/ops.js';
import { OUTCOMES } from '../../protocol/errors.js';
import type { ShardStats } from '../../workers/shard-messages.js';
import type { RecsStats } from '../recs/recs-service.js';
import { RequestStats } from './request-stats.js';
import type { EdgeMetrics } from '../../transport/dispatch.js';
import type { UpgradeRefusal } from '../../transport/ws-endpoint.js';

/** What cluster mode's gauges show, read at scrape time. */
export interface ClusterMetricsView {
  partitions: { acquiring: number; serving: number; releasing: number };
  nodes: number;
  roundAgeSeconds: number;
}

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
  private readonly failing: boolean[];
  private readonly shed: client.Counter;
  private readonly journalFailing: client.Gauge;
  private readonly commitFailures: client.Counter;
  private readonly windowWaits: client.Counter;
  private readonly windowSeconds: client.Counter;
  private readonly restartsTotal: client.Counter;
  private readonly shardUp: client.Gauge;
  private forwardedByOutcome: client.Counter.Internal[] | undefined;
  private catchUps: { seconds: client.Histogram; messages: client.Counter } | undefined;

  /** `node`: cluster mode's NODE_ID, a label on every series so the nodes' scrapes add up. */
  constructor(shards: number, mailboxDepth: (shard: number) => number, node?: string) {
    const r = this.registry;
    if (node !== undefined) r.setDefaultLabels({ node });
    client.collectDefaultMetrics({ register: r });
    this.business = new BusinessMetrics(r);
    this.connections = new client.Gauge({ name: 'cartwire_connections', help: 'Open WebSocket connections.', registers: [r] });
    r.registerMetric(this.requests.counter('cartwire_requests_total', 'Requests answered, by op and outcome (ok or error code).') as never);
    r.registerMetric(
      this.requests.histogram(
        'cartwire_request_duration_seconds',
        'Time from frame decode to reply, by op (includes the group commit for shard ops).',
      ) as never,
    );
    this.commitSeconds = new client.Histogram({
      name: 'cartwire_journal_commit_duration_seconds',
      help: 'Duration of one group commit (one SQLite transaction with fsync).',
      registers: [r],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1],
    });
    this.batchRows = new client.Histogram({
      name: 'cartwire_journal_batch_rows',
      help: 'Journal rows written per group commit.',
      registers: [r],
      buckets: [1, 4, 16, 64, 256, 1024, 4096],
    });
    this.actors = new client.Gauge({ name: 'cartwire_shard_actors', help: 'Actors in memory, per shard.', labelNames: ['shard'], registers: [r] });
    this.badFrames = new client.Counter({ name: 'cartwire_bad_frames_total', help: 'Frames answered BAD_FRAME.', registers: [r] });
    this.checkpointSeconds = new client.Histogram({
      name: 'cartwire_checkpoint_duration_seconds',
      help: 'Duration of one checkpoint (snapshots of every dirty actor, then journal truncation), batches running between its steps.',
      registers: [r],
      buckets: [0.001, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30],
    });
    this.snapshotsWritten = new client.Counter({
      name: 'cartwire_checkpoint_snapshots_total',
      help: 'Actor snapshots written by checkpoints.',
      registers: [r],
    });
    this.pushCount = new client.Counter({
      name: 'cartwire_pushes_published_total',
      help: 'Push frames published to topics (each reaches every subscriber).',
      registers: [r],
    });
    new client.Gauge({
      name: 'cartwire_shard_mailbox_depth',
      help: 'Requests queued or in flight per shard.',
      labelNames: ['shard'],
      registers: [r],
      collect() {
        for (let s = 0; s < shards; s++) this.labels(String(s)).set(mailboxDepth(s));
      },
    });
    for (let s = 0; s < shards; s++) this.actorChildren.push(this.actors.labels(String(s)));
    this.failing = new Array<boolean>(shards).fill(false);
    this.journalFailing = new client.Gauge({
      name: 'cartwire_shard_journal_failing',
      help: '1 while a shard cannot commit to its journal (disk full, I/O error): its writes answer UNAVAILABLE.',
      labelNames: ['shard'],
      registers: [r],
    });
    this.commitFailures = new client.Counter({
      name: 'cartwire_journal_commit_failures_total',
      help: 'Times a shard went from committing to failing commits.',
      registers: [r],
    });
    this.windowWaits = new client.Counter({
      name: 'cartwire_journal_commit_window_waits_total',
      help: 'Group commits a shard held open for the rest of its commit window (COMMIT_WINDOW_US) to take in more requests.',
      registers: [r],
    });
    this.windowSeconds = new client.Counter({
      name: 'cartwire_journal_commit_window_seconds_total',
      help: 'Time shards held group commits open for their commit window: writes waited this long on top of their commits.',
      registers: [r],
    });
    this.restartsTotal = new client.Counter({
      name: 'cartwire_shard_restarts_total',
      help: 'Shard worker threads that died and were restarted (out of memory, an uncaught error).',
      labelNames: ['shard'],
      registers: [r],
    });
    this.shardUp = new client.Gauge({
      name: 'cartwire_shard_up',
      help: '1 while the shard worker serves, 0 while it restarts.',
      labelNames: ['shard'],
      registers: [r],
    });
    for (let s = 0; s < shards; s++) {
      this.journalFailing.labels(String(s)).set(0);
      this.restartsTotal.labels(String(s)).inc(0);
      this.shardUp.labels(String(s)).set(1);
    }
    const refused = new client.Counter({
      name: 'cartwire_upgrades_refused_total',
      help: 'WebSocket upgrades refused, by reason (rate: per-IP rate 429, capacity: MAX_CONNECTIONS 503, per-ip: MAX_CONNECTIONS_PER_IP 429, origin: 403, starting and draining: 503).',
      labelNames: ['reason'],
      registers: [r],
    });
    this.refused = {
      rate: refused.labels('rate'),
      capacity: refused.labels('capacity'),
      'per-ip': refused.labels('per-ip'),
      origin: refused.labels('origin'),
      starting: refused.labels('starting'),
      draining: refused.labels('draining'),
    };
    this.shed = new client.Counter({
      name: 'cartwire_slow_consumers_closed_total',
      help: 'Connections closed because the unsent bytes of all connections passed MAX_UNSENT_BYTES (slowest first).',
      registers: [r],
    });
  }

  /** Recommendation model gauges, read at scrape time. */
  recs(stats: () => RecsStats): void {
    const r = this.registry;
    new client.Gauge({
      name: 'cartwire_recs_memory_bytes',
      help: 'Memory the recommendation service holds in buffers: the interaction log, the user ids, the live model.',
      labelNames: ['part'] as const,
      registers: [r],
      collect() {
        const m = stats().memoryBytes;
        this.set({ part: 'log' }, m.log);
        this.set({ part: 'users' }, m.users);
        this.set({ part: 'model' }, m.model);
      },
    });
    new client.Gauge({
      name: 'cartwire_recs_model_age_seconds',
      help: 'Age of the live recommendation model.',
      registers: [r],
      collect() {
        this.set(stats().modelAgeMs / 1000);
      },
    });
    new client.Gauge({
      name: 'cartwire_recs_job_duration_seconds',
      help: 'Duration of the last recommendation build (Piscina pool).',
      registers: [r],
      collect() {
        this.set(stats().lastBuildMs / 1000);
      },
    });
    // Counters read at scrape time: the service counts, the scrape adds what is new since the last one.
    let builds = 0;
    new client.Counter({
      name: 'cartwire_recs_builds_total',
      help: 'Recommendation builds completed since start.',
      registers: [r],
      collect() {
        const now = stats().builds;
        if (now > builds) this.inc(now - builds);
        builds = now;
      },
    });
    let interactions = 0;
    new client.Counter({
      name: 'cartwire_recs_interactions_total',
      help: 'Interactions the recommendation models learn from (recorded or reloaded from the event logs since start).',
      registers: [r],
      collect() {
        const now = stats().events;
        if (now > interactions) this.inc(now - interactions);
        interactions = now;
      },
    });
    new client.Gauge({
      name: 'cartwire_recs_pool_utilization',
      help: 'Piscina build pool utilization (0..1).',
      registers: [r],
      collect() {
        this.set(stats().poolUtilization);
      },
    });
  }

  slowConsumersShed(n: number): void {
    this.shed.inc(n);
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

  /** Cluster mode: a request this node forwarded to its actor's owner was answered (counted by op as a local one is). */
  forwarded(op: number, seconds: number, outcome: number): void {
    this.done(op, seconds, outcome);
    this.forwardedByOutcome?.[outcome]?.inc();
  }

  /** Cluster mode: a partition taken over is served (`seconds` after its lease was taken, `read` journal messages applied). */
  caughtUp(seconds: number, read: number): void {
    this.catchUps?.seconds.observe(seconds);
    this.catchUps?.messages.inc(read);
  }

  /** Cluster mode's gauges (read at scrape time) and the forwarded requests' and catch-ups' counters. */
  cluster(view: () => ClusterMetricsView): void {
    const r = this.registry;
    this.catchUps = {
      seconds: new client.Histogram({
        name: 'cartwire_cluster_catchup_seconds',
        help: 'Partitions taken over by this node: seconds from taking the lease to serving (snapshot and journal tail applied).',
        buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
        registers: [r],
      }),
      messages: new client.Counter({
        name: 'cartwire_cluster_catchup_messages_total',
        help: "Journal messages this node applied catching partitions up (other owners' commits it had not stored).",
        registers: [r],
      }),
    };
    const forwarded = new client.Counter({
      name: 'cartwire_cluster_forwarded_total',
      help: 'Requests this node forwarded to the node owning their actor, by outcome.',
      labelNames: ['outcome'] as const,
      registers: [r],
    });
    this.forwardedByOutcome = OUTCOMES.map((o) => forwarded.labels(o));
    new client.Gauge({
      name: 'cartwire_cluster_partitions',
      help: 'Partitions this node holds a lease on, by state (acquiring: catching up; serving; releasing: handing over).',
      labelNames: ['state'] as const,
      registers: [r],
      collect() {
        const p = view().partitions;
        this.set({ state: 'acquiring' }, p.acquiring);
        this.set({ state: 'serving' }, p.serving);
        this.set({ state: 'releasing' }, p.releasing);
      },
    });
    new client.Gauge({
      name: 'cartwire_cluster_nodes',
      help: 'Live nodes (beating) as this node last read them, itself included.',
      registers: [r],
      collect() {
        this.set(view().nodes);
      },
    });
    new client.Gauge({
      name: 'cartwire_cluster_ownership_round_age_seconds',
      help: "Time since this node's last full ownership round (renewals and takeovers); /readyz fails past 3 leases.",
      registers: [r],
      collect() {
        this.set(view().roundAgeSeconds);
      },
    });
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
    if (s.rows > 0 && !s.commitFailing) {
      this.commitSeconds.observe(s.commitMs / 1000);
      this.batchRows.observe(s.rows);
    }
    if (s.windowMs > 0) {
      this.windowWaits.inc();
      this.windowSeconds.inc(s.windowMs / 1000);
    }
    this.actorChildren[shard]?.set(s.actors);
    if (s.commitFailing !== this.failing[shard]) {
      this.failing[shard] = s.commitFailing;
      this.journalFailing.labels(String(shard)).set(s.commitFailing ? 1 : 0);
      if (s.commitFailing) this.commitFailures.inc();
    }
  }

  /** Whether any shard's last group commit failed (the shard refuses writes until one succeeds). */
  commitFailing(): boolean {
    return this.failing.some(Boolean);
  }

  failingShards(): number[] {
    return this.failing.flatMap((f, shard) => (f ? [shard] : []));
  }

  shardRestarted(shard: number): void {
    this.shardUp.labels(String(shard)).set(1);
  }

  /** A shard's worker died: it counts as a restart (it restarts by itself). */
  shardDown(shard: number): void {
    this.restartsTotal.labels(String(shard)).inc();
    this.shardUp.labels(String(shard)).set(0);
    // Its in-memory count went with it.
    this.actorChildren[shard]?.set(0);
    this.failing[shard] = false;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
