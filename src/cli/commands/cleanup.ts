/**
 * `baton cleanup [--max-age-days 7] [--dry-run] [--report FILE] [--json]`: remove finished
 * runs older than the limit with their tasks, checkpoints and events, and write a Markdown
 * report of what was (or, on a dry run, would be) removed: to FILE, else to stdout.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Command } from 'commander';
import { z } from 'zod';
import { applyCleanup, cleanupReport, planCleanup } from '../../workflow/cleanup.js';
import {
  parseOption,
  printJson,
  println,
  withStore,
  withStoreOption,
  type StoreOption,
} from '../cli-context.js';

interface Flags extends StoreOption {
  maxAgeDays: string;
  dryRun?: boolean;
  report?: string;
  json?: boolean;
}

const days = z
  .string()
  .regex(/^\d+(\.\d+)?$/, 'expected a number of days from 0 to 36500')
  .transform(Number)
  .pipe(z.number().min(0).max(36_500, 'expected a number of days from 0 to 36500'));

export function registerCleanup(program: Command): void {
  withStoreOption(
    program
      .command('cleanup')
      .description('remove finished runs older than the limit; never an unfinished run')
      .option('--max-age-days <days>', 'remove runs finished longer ago than this', '7')
      .option('--dry-run', 'report what would be removed, change nothing')
      .option('--report <file>', 'write the Markdown report to this file')
      .option('--json', 'print a JSON summary'),
  ).action(async (flags: Flags) => {
    const maxAgeDays = parseOption(days, flags.maxAgeDays, '--max-age-days');
    await withStore(flags, async (store) => {
      const plan = await planCleanup(store, maxAgeDays * 86_400_000);
      const dryRun = flags.dryRun === true;
      const removed = dryRun ? 0 : await applyCleanup(store, plan);
      const report = cleanupReport({ plan, maxAgeDays, dryRun, removed, at: await store.now() });
      if (flags.report !== undefined) {
        await mkdir(dirname(flags.report), { recursive: true });
        await writeFile(flags.report, report);
      }
      if (flags.json) {
        printJson({
          dryRun,
          maxAgeDays,
          removed,
          runs: plan.runs.map((r) => ({ id: r.id, name: r.name, state: r.state })),
          ...(flags.report === undefined ? {} : { report: flags.report }),
        });
      } else if (flags.report === undefined) process.stdout.write(report);
      else
        println(
          `${dryRun ? 'Would remove' : 'Removed'} ${dryRun ? plan.runs.length : removed} run(s); report written to ${flags.report}`,
        );
    });
  });
}
