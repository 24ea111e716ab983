/**
 * Serves the dashboard: `/` is its page and `/dashboard/…` its scripts and styles, plus the
 * browser builds of its libraries (Preact, htm, dagre) straight from their packages, so the
 * UI needs no build step. These files hold no data and need no token: everything the page
 * shows it fetches from the API with the token the visitor types into its sign-in form, so an
 * unauthenticated visitor sees the form and nothing else.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Context, Hono } from 'hono';

/** The `dashboard/` folder of the package (next to `src/` and `dist/`). */
export const DASHBOARD_DIR = fileURLToPath(new URL('../../dashboard/', import.meta.url));

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

// The page runs only its own scripts: no inline script, no other origin.
const HEADERS = {
  'Content-Security-Policy':
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-cache',
};

interface Asset {
  body: string;
  type: string;
}

/** Browser builds of the UI libraries, with bare imports pointed at their served paths. */
function vendorAssets(): Map<string, Asset> {
  const require = createRequire(import.meta.url);
  const preactDir = dirname(require.resolve('preact/package.json'));
  const dagreDir = dirname(require.resolve('@dagrejs/dagre/package.json'));
  const htmDir = dirname(require.resolve('htm'));
  const files: Record<string, string> = {
    'preact.js': join(preactDir, 'dist', 'preact.mjs'),
    'hooks.js': join(preactDir, 'hooks', 'dist', 'hooks.mjs'),
    'htm.js': join(htmDir, 'htm.mjs'),
    'dagre.js': join(dagreDir, 'dist', 'dagre.esm.js'),
  };
  const out = new Map<string, Asset>();
  for (const [name, file] of Object.entries(files)) {
    const body = readFileSync(file, 'utf8')
      .replace(/from\s*["']preact["']/g, 'from"/dashboard/vendor/preact.js"')
      .replace(/\/\/# sourceMappingURL=\S+/g, '');
    out.set(name, { body, type: TYPES['.js']! });
  }
  return out;
}

function ownAssets(dir: string): Map<string, Asset> {
  const out = new Map<string, Asset>();
  // A package installed without its dashboard still serves the API; `/` then answers 404.
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const type = TYPES[extname(name)];
    if (type !== undefined) out.set(name, { body: readFileSync(join(dir, name), 'utf8'), type });
  }
  return out;
}

export interface DashboardOptions {
  /** Folder of the dashboard's own files. Default: the package's `dashboard/`. */
  dir?: string;
}

export function mountDashboard(app: Hono, options: DashboardOptions = {}): void {
  // Read once at start: the files are part of the installed package.
  const own = ownAssets(options.dir ?? DASHBOARD_DIR);
  const vendor = vendorAssets();
  const send = (c: Context, asset: Asset | undefined): Response => {
    if (!asset) {
      return c.json(
        { error: { code: 'NOT_FOUND', message: `no file ${c.req.path}`, details: {} } },
        404,
      );
    }
    return c.body(asset.body, 200, { ...HEADERS, 'Content-Type': asset.type });
  };
  app.get('/', (c) => send(c, own.get('index.html')));
  app.get('/dashboard/vendor/:name', (c) => send(c, vendor.get(c.req.param('name'))));
  app.get('/dashboard/:name', (c) => send(c, own.get(c.req.param('name'))));
}
