/**
 * Cron expressions, read by croner (never parsed by hand): 5 fields (minute first), or 6 with
 * seconds first, in an IANA time zone. Daylight-saving changes follow croner's rules: a
 * fixed-time expression (`30 2 * * *`) whose time falls in a spring-forward gap runs at the
 * first valid time after it, and once when an autumn time occurs twice; an interval
 * expression (`0 * * * *`) skips times in a gap and runs on both occurrences of a repeated one.
 */
import { Cron } from 'croner';
import { BatonError } from './errors.js';

/** The zone a schedule uses when it names none. */
export const DEFAULT_TIME_ZONE = 'UTC';

/** The instants a cron expression names, in its time zone. */
export class CronTicks {
  readonly #cron: Cron;

  private constructor(cron: Cron) {
    this.#cron = cron;
  }

  /**
   * Parses `expression` in zone `tz`; VALIDATION_FAILED names the field (`cron` or `tz`) and
   * says what was wrong. An expression that never fires (`0 0 30 2 *`) is refused too.
   */
  static parse(expression: string, tz: string = DEFAULT_TIME_ZONE, fromMs = 0): CronTicks {
    if (!isTimeZone(tz)) {
      throw invalid(
        'tz',
        `unknown time zone "${tz}" (expected an IANA name such as Europe/Berlin)`,
      );
    }
    let cron: Cron;
    try {
      cron = new Cron(expression, { timezone: tz, paused: true, mode: '5-or-6-parts' });
    } catch (error) {
      const reason = error instanceof Error ? error.message.replace(/^CronPattern: /, '') : '';
      throw invalid('cron', `invalid cron expression "${expression}": ${reason}`);
    }
    const ticks = new CronTicks(cron);
    if (ticks.after(fromMs) === null) {
      throw invalid('cron', `cron expression "${expression}" never fires`);
    }
    return ticks;
  }

  /** The first tick strictly after `ms`, or null when there is none. */
  after(ms: number): number | null {
    return this.#cron.nextRun(new Date(ms))?.getTime() ?? null;
  }

  /** The first tick at or after `ms`. */
  atOrAfter(ms: number): number | null {
    return this.after(ms - 1);
  }

  /** Up to `n` ticks at or before `ms`, newest first. */
  newestUpTo(ms: number, n: number): number[] {
    return this.#cron.previousRuns(n, new Date(ms + 1)).map((d) => d.getTime());
  }
}

/** Whether `tz` is a time zone this runtime knows (IANA names, `UTC`). */
export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return tz !== '';
  } catch {
    return false;
  }
}

function invalid(field: string, message: string): BatonError {
  return new BatonError('VALIDATION_FAILED', `invalid schedule: ${field}: ${message}`, {
    details: { problems: [{ field, message }] },
  });
}
