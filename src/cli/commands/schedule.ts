/**
 * `baton schedule add|list|remove|pause|unpause`: recurring runs of a workflow file. `add`
 * stores the workflow as it is now (a later edit of the file changes nothing until it is added
 * again); any running sweeper of the store (`baton serve`, `baton worker --store`, an
 * orchestrator) fires the ticks.
 */
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { z } from 'zod';
import { CATCH_UP_POLICIES, OVERLAP_POLICIES } from '../../core/schedule-spec.js';
import { Orchestrator } from '../../engine/orchestrator.js';
import { loadWorkflowFile } from '../../workflow/load-workflow.js';
import { scheduleViews, toScheduleView, type ScheduleView } from '../../workflow/schedule-view.js';
import { toRunSpec } from '../../workflow/to-run-spec.js';
import { scheduleJsonSchema } from '../../protocol/schedule-schemas.js';
import {
  parseOption,
  printJson,
  println,
  withStore,
  withStoreOption,
  type StoreOption,
} from '../cli-context.js';

interface AddFlags extends StoreOption {
  cron: string;
  name?: string;
  tz?: string;
  overlap?: string;
  catchUp?: string;
  json?: boolean;
}

interface ListFlags extends StoreOption {
  json?: boolean;
}

/** A schedule as the HTTP API sends it (instants as ISO 8601). */
const toJson = (view: ScheduleView) => z.encode(scheduleJsonSchema, view);

export function registerSchedule(program: Command): void {
  const schedule = program
    .command('schedule')
    .description('recurring runs of a workflow file, on a cron expression');

  withStoreOption(
    schedule
      .command('add')
      .description('run a workflow file at every tick of a cron expression (replaces NAME)')
      .argument('<file>', 'workflow file (YAML or JSON), stored as it is now')
      .requiredOption('--cron <expr>', 'cron expression: 5 fields, or 6 with seconds first')
      .option('--name <name>', "schedule name (default: the workflow's name)")
      .option('--tz <zone>', 'IANA time zone the expression is read in (default UTC)')
      .option('--overlap <policy>', 'skip or allow a tick while the last run is unfinished', 'skip')
      .option('--catch-up <policy>', 'ticks missed while no sweeper ran: none, last or all', 'last')
      .option('--json', 'print { name, cron, tz, overlap, catchUp, nextAt }'),
  ).action(async (file: string, flags: AddFlags) => {
    const overlap = parseOption(z.enum(OVERLAP_POLICIES), flags.overlap, '--overlap');
    const catchUp = parseOption(z.enum(CATCH_UP_POLICIES), flags.catchUp, '--catch-up');
    const loaded = await loadWorkflowFile(file);
    const path = resolve(file);
    const run = toRunSpec(loaded.workflow, { path, cwd: dirname(path), hash: loaded.hash });
    await withStore(flags, async (store) => {
      const orch = new Orchestrator({ store, sweeper: false });
      const added = await orch.schedule({
        name: flags.name ?? loaded.workflow.name,
        cron: flags.cron,
        ...(flags.tz !== undefined && { tz: flags.tz }),
        overlap,
        catchUp,
        run,
      });
      const json = toJson(toScheduleView(added, null));
      if (flags.json) {
        const { name, cron, tz, nextAt } = json;
        printJson({ name, cron, tz, overlap: json.overlap, catchUp: json.catchUp, nextAt });
      } else println(`schedule ${json.name}: next run at ${json.nextAt ?? 'never'}`);
    });
  });

  withStoreOption(
    schedule
      .command('list')
      .description('list schedules with their next tick and last run')
      .option('--json', 'print the schedules as JSON'),
  ).action(async (flags: ListFlags) => {
    await withStore(flags, async (store) => {
      const views = await scheduleViews(await store.listSchedules(), (id) => store.getRun(id));
      const list = views.map(toJson);
      if (flags.json) return printJson(list);
      if (list.length === 0) return println('no schedules');
      for (const s of list) {
        const next = s.paused ? 'paused' : (s.nextAt ?? 'never');
        const last = s.lastRun === null ? '-' : `${s.lastRun.id} ${s.lastRun.state}`;
        println(
          `${s.name.padEnd(20)} ${s.cron.padEnd(16)} ${s.tz.padEnd(16)} next ${next}  last ${last}`,
        );
      }
    });
  });

  const byName = (verb: 'remove' | 'pause' | 'unpause', description: string): void => {
    withStoreOption(
      schedule.command(verb).description(description).argument('<name>', 'schedule name'),
    ).action(async (name: string, flags: StoreOption) => {
      await withStore(flags, async (store) => {
        const orch = new Orchestrator({ store, sweeper: false });
        if (verb === 'remove') await orch.removeSchedule(name);
        else if (verb === 'pause') await orch.pauseSchedule(name);
        else await orch.unpauseSchedule(name);
        println(`schedule ${name} ${verb === 'remove' ? 'removed' : `${verb}d`}`);
      });
    });
  };
  byName('remove', 'delete a schedule (its runs stay)');
  byName('pause', 'stop firing a schedule until unpaused');
  byName('unpause', 'fire a paused schedule again from its next tick (the pause is not caught up)');
}
