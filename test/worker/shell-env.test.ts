/** The rule of what a shell command inherits from its worker's environment. */
import { describe, expect, it } from 'vitest';
import { inheritedEnv, passEnvListSchema, storeUrlSecrets } from '../../src/worker/shell-env.js';

const WORKER_ENV = {
  PATH: '/usr/bin',
  HOME: '/home/w',
  USER: 'w',
  LOGNAME: 'w',
  SHELL: '/bin/sh',
  LANG: 'C.UTF-8',
  LC_ALL: 'C',
  TZ: 'UTC',
  TMPDIR: '/tmp',
  BATON_TOKEN: 'bt_secret_token_value',
  BATON_STORE: 'postgres://u:pw@db/baton',
  AWS_SECRET_ACCESS_KEY: 'aws',
  COPY_OF_TOKEN: 'Bearer bt_secret_token_value',
  UNSET: undefined,
};

describe('inheritedEnv', () => {
  it('keeps only PATH, HOME, USER, LOGNAME, SHELL, LANG, LC_*, TZ and TMPDIR', () => {
    expect(inheritedEnv(WORKER_ENV)).toEqual({
      PATH: '/usr/bin',
      HOME: '/home/w',
      USER: 'w',
      LOGNAME: 'w',
      SHELL: '/bin/sh',
      LANG: 'C.UTF-8',
      LC_ALL: 'C',
      TZ: 'UTC',
      TMPDIR: '/tmp',
    });
  });

  it('adds passEnv names, never BATON_* ones, never a value that holds a secret', () => {
    const env = inheritedEnv(WORKER_ENV, {
      passEnv: ['AWS_SECRET_ACCESS_KEY', 'BATON_TOKEN', 'COPY_OF_TOKEN', 'UNSET'],
      secrets: ['bt_secret_token_value'],
    });
    expect(env.AWS_SECRET_ACCESS_KEY).toBe('aws');
    expect(env).not.toHaveProperty('BATON_TOKEN');
    expect(env).not.toHaveProperty('COPY_OF_TOKEN');
    expect(env).not.toHaveProperty('UNSET');
  });

  it('matches a short secret only whole (a 2-letter secret does not drop PATH)', () => {
    const env = inheritedEnv(WORKER_ENV, { secrets: ['us', 'w'] });
    expect(env.PATH).toBe('/usr/bin');
    expect(env).not.toHaveProperty('USER');
  });
});

describe('--pass-env names', () => {
  it('splits comma lists, joins repeats, refuses BATON_* and bad names naming the reason', () => {
    expect(passEnvListSchema.parse(['A,B', ' C ', ''])).toEqual(['A', 'B', 'C']);
    const baton = passEnvListSchema.safeParse(['HOME,BATON_TOKEN']);
    expect(baton.success).toBe(false);
    expect(baton.error?.issues[0]?.message).toContain("worker's token");
    expect(passEnvListSchema.safeParse(['a-b']).success).toBe(false);
    expect(passEnvListSchema.safeParse(['baton_store']).success).toBe(false);
  });

  it("a postgres store URL's password is a secret", () => {
    expect(storeUrlSecrets('postgres://u:p%40ss@db/x')).toEqual([
      'postgres://u:p%40ss@db/x',
      'p@ss',
    ]);
    expect(storeUrlSecrets('.baton/baton.db')).toEqual([]);
  });
});
