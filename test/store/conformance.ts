/**
 * The store contract, as tests. Every backend runs this suite (see sqlite.test.ts and
 * postgres.test.ts), in parts (conformance/*.ts). Time-dependent cases work with the store's
 * own clock (`store.now()`), so they hold for backends whose clock cannot be faked
 * (PostgreSQL's now()).
 */
import { describeLanes } from './conformance/lanes.js';
import { describeBulk } from './conformance/bulk.js';
import { describeLogs } from './conformance/logs.js';
import { describeOperator } from './conformance/operator.js';
import { describeOutcomes } from './conformance/outcomes.js';
import { describePerformance } from './conformance/performance.js';
import { describeRecovery } from './conformance/recovery.js';
import { describeScheduleFiring } from './conformance/schedule-firing.js';
import { describeSchedules } from './conformance/schedules.js';
import { describeSpawn } from './conformance/spawn.js';
import { describeTasks } from './conformance/tasks.js';
import { describeTokens } from './conformance/tokens.js';
import { describeSuspend } from './conformance/suspend.js';
import { describeTransitions } from './conformance/transitions.js';
import { describeWaits } from './conformance/waits.js';
import type { OpenStore } from './conformance/harness.js';

export { newTask, worker, type StoreHarness } from './conformance/harness.js';

export function describeStoreConformance(name: string, open: OpenStore): void {
  describeTasks(name, open);
  describeOutcomes(name, open);
  describeRecovery(name, open);
  describeOperator(name, open);
  describeBulk(name, open);
  describeTokens(name, open);
  describePerformance(name, open);
  describeLogs(name, open);
  describeTransitions(name, open);
  describeSchedules(name, open);
  describeScheduleFiring(name, open);
  describeWaits(name, open);
  describeLanes(name, open);
  describeSpawn(name, open);
  describeSuspend(name, open);
}
