// The shard context actors get in unit tests: no live prices, the default pricing rules.
import type { ShardContext } from '../../src/actors/actor.js';
import { DEFAULT_PRICING } from '../../src/actors/pricing.js';

export const NO_PRICES: ShardContext = { item: () => undefined, pricing: DEFAULT_PRICING };
