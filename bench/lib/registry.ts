// The scenario registry: every module in bench/scenarios/ that exports `scenario` is one, so a
// new scenario (flash-sale, checkout, recs...) is one new file and nothing else.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Scenario } from './scenario.js';

export const SCENARIOS_DIR = fileURLToPath(new URL('../scenarios/', import.meta.url));
/** bench/scenarios/ of the source tree, seen from dist/bench/lib/. */
const SOURCE_DIR = fileURLToPath(new URL('../../../bench/scenarios/', import.meta.url));

/** The scenarios of `dir`, sorted by file name; two with one name is an error. */
export async function loadScenarios(dir = SCENARIOS_DIR): Promise<Scenario[]> {
  const out: Scenario[] = [];
  // A build left over from a deleted source file is not a scenario any more.
  const fromSource = dir === SCENARIOS_DIR && existsSync(SOURCE_DIR);
  const files = readdirSync(dir).filter((x) => x.endsWith('.js') && (!fromSource || existsSync(join(SOURCE_DIR, x.replace(/\.js$/, '.ts')))));
  for (const f of files.sort()) {
    const mod = (await import(join(dir, f))) as { scenario?: Scenario };
    if (!mod.scenario) continue;
    if (out.some((s) => s.name === mod.scenario!.name)) throw new Error(`two scenarios are named "${mod.scenario.name}" (${f})`);
    out.push(mod.scenario);
  }
  return out;
}
